//! Panics inside a run are caught (in the engine for handlers, in the runner for checkers)
//! and reported with the seed and event index. This hook keeps the default hook's stderr
//! noise out of sweeps and remembers where the panic happened, so the report can say so.

use std::cell::RefCell;

thread_local! {
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        LAST.with(|l| *l.borrow_mut() = Some(at));
    }));
}

/// The panic's message, with where it happened when the hook saw it.
pub fn message(payload: &Box<dyn std::any::Any + Send>) -> String {
    let (text, at) = text_and_location(payload);
    with_location(text, at.as_deref())
}

/// The panic's own words, and where it happened when the hook saw it.
pub fn text_and_location(payload: &Box<dyn std::any::Any + Send>) -> (String, Option<String>) {
    (dsim_core::world::panic_message(&**payload), take_location())
}

/// `text (at file:line)`, or the text alone.
pub fn with_location(text: String, at: Option<&str>) -> String {
    match at {
        Some(at) => format!("{text} (at {at})"),
        None => text,
    }
}

/// Where the last panic on this thread happened, once.
pub fn take_location() -> Option<String> {
    LAST.with(|l| l.borrow_mut().take())
        .filter(|at| !at.is_empty())
}
