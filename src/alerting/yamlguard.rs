//! What stands between a rules file and the YAML parser: a size cap and a nesting cap
//! checked in one linear pass before parsing (a deeply nested file costs the parser time
//! quadratic in its depth before it is rejected), and parser messages with the offending
//! values taken out (a value may be a secret, whatever its type).

use super::limits::{MAX_NESTING, MAX_RULES_FILE_BYTES};

/// Why a file is refused before parsing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Larger than [`MAX_RULES_FILE_BYTES`].
    TooLarge(usize),
    /// Nested deeper than [`MAX_NESTING`] at this 1-based line.
    TooDeep(usize),
}

/// Checks the size and the nesting of `text` in one pass.
///
/// Nesting is counted as YAML opens it: each deeper indentation level, each compact
/// `- ` entry at the start of a line, and each `[` or `{` outside quotes and comments.
/// Block scalars (`|`, `>`) are skipped, their text being text.
pub(crate) fn check(text: &str) -> Result<(), Refusal> {
    if text.len() > MAX_RULES_FILE_BYTES {
        return Err(Refusal::TooLarge(text.len()));
    }
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    // Indentation of the key whose block scalar is being read.
    let mut scalar_owner: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let content = line.trim_start_matches(' ');
        let indent = line.len() - content.len();
        if let Some(owner) = scalar_owner {
            if content.is_empty() || indent > owner {
                continue;
            }
            scalar_owner = None;
        }
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if flow == 0 {
            while indents.last().is_some_and(|i| *i >= indent) {
                indents.pop();
            }
            indents.push(indent);
        }
        let mut rest = content;
        let mut dashes = 0;
        while let Some(r) = rest.strip_prefix("- ").or_else(|| rest.strip_prefix("? ")) {
            dashes += 1;
            rest = r.trim_start_matches(' ');
        }
        let (opened, deepest, scalar) = scan_flow(rest, flow);
        flow = opened;
        if indents.len() + dashes + deepest > MAX_NESTING {
            return Err(Refusal::TooDeep(n + 1));
        }
        if scalar && flow == 0 {
            scalar_owner = Some(indent);
        }
    }
    Ok(())
}

/// Walks one line's flow brackets from depth `depth`: the depth after it, the deepest
/// reached, and whether the line opens a block scalar (ends with `|` or `>`).
fn scan_flow(line: &str, mut depth: usize) -> (usize, usize, bool) {
    let mut deepest = depth;
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some('"') if c == '\\' => {
                chars.next();
            }
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' if prev == ' ' || "[{,:".contains(prev) => quote = Some(c),
                '#' if prev == ' ' => break,
                '[' | '{' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = c;
    }
    let scalar = quote.is_none()
        && line.trim_end().rsplit(' ').next().is_some_and(|t| {
            let t = t.trim_end_matches(|c: char| c == '-' || c == '+' || c.is_ascii_digit());
            t == "|" || t == ">"
        });
    (depth, deepest, scalar)
}

/// A YAML or serde message without the values it quotes: `invalid type: integer `5`,
/// expected a string` becomes `invalid type: integer, expected a string`. Names of fields
/// (`unknown field `x``) stay: they are the file's keys, not its values.
pub(crate) fn without_values(message: &str) -> String {
    let mut out = message.to_string();
    for marker in ["invalid type: ", "invalid value: ", "invalid length "] {
        let mut from = 0;
        while let Some(at) = out[from..].find(marker).map(|i| i + from + marker.len()) {
            // The kind word(s) end where the quoted value or the `, expected` starts.
            let tail = &out[at..];
            let end = tail.find(", expected").unwrap_or(tail.len());
            let value_start = tail[..end].find(['`', '"']).unwrap_or(end);
            out.replace_range(at + value_start..at + end, "");
            let trimmed = out[..at + value_start].trim_end().len();
            out.replace_range(trimmed..at + value_start, "");
            from = trimmed;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_files_pass() {
        let text = "rules:\n  - name: A\n    description: |\n      text with [unbalanced ( brackets\n    metric: x\n    condition: { greater_than: 1 }\n    match: { a: \"[not\", b: '{nor' } # [comment\n";
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn deep_flow_block_and_compact_nesting_are_refused_with_the_line() {
        let flow = format!("rules: {}{}\n", "[".repeat(100), "]".repeat(100));
        assert_eq!(check(&flow), Err(Refusal::TooDeep(1)));
        let compact = format!("a:\n{}x\n", "- ".repeat(100));
        assert_eq!(check(&compact), Err(Refusal::TooDeep(2)));
        let block: String = (0..100).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert_eq!(check(&block), Err(Refusal::TooDeep(MAX_NESTING + 1)));
        let big = "#".repeat(MAX_RULES_FILE_BYTES + 1);
        assert_eq!(check(&big), Err(Refusal::TooLarge(MAX_RULES_FILE_BYTES + 1)));
    }

    #[test]
    fn messages_lose_their_values_and_keep_field_names() {
        assert_eq!(
            without_values("channels.p: invalid type: integer `12345`, expected a string"),
            "channels.p: invalid type: integer, expected a string"
        );
        assert_eq!(
            without_values("invalid type: string \"hunter2\", expected u16 at line 3"),
            "invalid type: string, expected u16 at line 3"
        );
        assert_eq!(
            without_values("invalid value: floating point `1.5`, expected u32"),
            "invalid value: floating point, expected u32"
        );
        assert_eq!(
            without_values("unknown field `colour`, expected `name`"),
            "unknown field `colour`, expected `name`"
        );
    }
}
