//! The server spans' names and `http.route` values per route template, built once per
//! template for the whole process, so a request's span is named without formatting or
//! allocating.
//!
//! The strings are leaked on purpose: the SDK keeps a span's name as `Cow<'static, str>` and
//! an attribute value as a shared string, and only a `'static` one costs nothing per request.
//! Route templates come from the routers' source code, so a process has few of them; the
//! table still stops at about [`MAX_ROUTES`] (a router built from data could have many), past
//! which requests get their name formatted per request.

use crate::metrics::Fnv;
use crate::semconv::{AttributeEnum, HttpRequestMethod};
use std::hash::Hasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Templates kept process-wide; each costs about ten short strings, once.
pub(super) const MAX_ROUTES: usize = 1024;

/// The method part of a span name: `HTTP` for a method outside the known set (OTel's rule).
pub(super) fn span_method(method: HttpRequestMethod) -> &'static str {
    match method {
        HttpRequestMethod::Other => "HTTP",
        known => known.as_str(),
    }
}

/// One route template's strings.
pub(super) struct RouteNames {
    /// The template, as the `http.route` attribute value.
    pub(super) route: &'static str,
    /// `{method} {route}`, indexed by [`AttributeEnum::index`].
    names: Box<[&'static str]>,
}

impl RouteNames {
    fn new(route: &str) -> RouteNames {
        let names = HttpRequestMethod::ALL.iter().map(|&m| leak(format!("{} {route}", span_method(m)))).collect();
        RouteNames { route: leak(route.to_owned()), names }
    }

    /// The span name for `method` on this route.
    pub(super) fn name(&self, method: HttpRequestMethod) -> &'static str {
        // `names` has one entry per `ALL` value, so the index is always in range.
        self.names.get(method.index()).copied().unwrap_or(self.route)
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Route templates → their strings: an insert-only open-addressing table of write-once
/// slots. A look-up is a hash, atomic loads and a string compare: no lock, and no write to a
/// cache line that every request on every core would share.
struct Interner {
    /// A power of two, at least twice `cap`, so a probe always finds an empty slot soon.
    slots: Box<[OnceLock<&'static RouteNames>]>,
    /// Templates stored; may pass `cap` by the number of threads inserting at once.
    len: AtomicUsize,
    cap: usize,
}

impl Interner {
    fn new(cap: usize) -> Interner {
        let slots = (cap.max(1) * 2).next_power_of_two();
        Interner { slots: (0..slots).map(|_| OnceLock::new()).collect(), len: AtomicUsize::new(0), cap }
    }

    fn lookup(&self, route: &str) -> Option<&'static RouteNames> {
        let mut hasher = Fnv::default();
        hasher.write(route.as_bytes());
        let mask = self.slots.len() - 1;
        // Truncating the hash is fine: only its low bits pick the first slot.
        let first = hasher.finish() as usize & mask;
        for step in 0..self.slots.len() {
            let slot = &self.slots[(first + step) & mask];
            let names = match slot.get() {
                Some(names) => names,
                None => {
                    if self.len.load(Ordering::Relaxed) >= self.cap {
                        return None;
                    }
                    // Another thread may fill this slot first, with this template or another:
                    // either way the slot's value is compared below like any other.
                    slot.get_or_init(|| {
                        self.len.fetch_add(1, Ordering::Relaxed);
                        Box::leak(Box::new(RouteNames::new(route)))
                    })
                }
            };
            if names.route == route {
                return Some(names);
            }
        }
        None
    }
}

/// The strings of `route`, made on its first request; `None` once [`MAX_ROUTES`] templates
/// are known and `route` is not one of them.
pub(super) fn lookup(route: &str) -> Option<&'static RouteNames> {
    static GLOBAL: OnceLock<Interner> = OnceLock::new();
    GLOBAL.get_or_init(|| Interner::new(MAX_ROUTES)).lookup(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_method_space_template_and_other_methods_are_http() {
        let names = Interner::new(4).lookup("/games/{id}").expect("room in the table");
        assert_eq!(names.route, "/games/{id}");
        assert_eq!(names.name(HttpRequestMethod::Get), "GET /games/{id}");
        assert_eq!(names.name(HttpRequestMethod::Delete), "DELETE /games/{id}");
        assert_eq!(names.name(HttpRequestMethod::Other), "HTTP /games/{id}");
    }

    #[test]
    fn a_template_is_built_once_and_the_table_stops_growing_at_its_cap() {
        let interner = Interner::new(3);
        let first = interner.lookup("/a").expect("room in the table");
        let again = interner.lookup("/a").expect("known template");
        assert!(std::ptr::eq(first, again), "the second request must reuse the first one's strings");
        assert!(interner.lookup("/b").is_some() && interner.lookup("/c").is_some());
        assert!(interner.lookup("/d").is_none(), "a fourth template must be refused");
        assert_eq!(interner.slots.iter().filter(|s| s.get().is_some()).count(), 3);
        // Known templates are still served past the cap.
        assert!(interner.lookup("/a").is_some());
    }

    #[test]
    fn threads_racing_on_the_same_templates_all_get_their_own_template_once() {
        let interner = Interner::new(64);
        let routes: Vec<String> = (0..40).map(|i| format!("/race/{i}")).collect();
        let found: Vec<Vec<usize>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        routes
                            .iter()
                            .map(|r| {
                                let names = interner.lookup(r).expect("under the cap");
                                assert_eq!(names.route, r.as_str());
                                names as *const RouteNames as usize
                            })
                            .collect()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("no panic")).collect()
        });
        assert!(found.windows(2).all(|w| w[0] == w[1]), "every thread must get the same strings per template");
        assert_eq!(interner.slots.iter().filter(|s| s.get().is_some()).count(), routes.len());
    }
}
