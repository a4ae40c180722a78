//! The end-to-end suites' runner: one stack serves many scenarios, so each suite is a plain
//! program that picks its scenarios by the arguments (any part of their names, as with
//! `cargo test NAME`), runs them in order, each caught on its own, and prints libtest's lines and
//! `N passed, M failed`.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    process::ExitCode,
};

/// A named step of a suite, run against the suite's context.
pub type Scenario<C> = (&'static str, fn(&C));

/// The scenarios the command line names (all when it names none).
pub fn chosen<C>(scenarios: &[Scenario<C>]) -> Vec<&Scenario<C>> {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    scenarios
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect()
}

/// Runs `chosen` against `ctx` in order and reports; the exit code says whether all passed.
pub fn run<C>(chosen: &[&Scenario<C>], ctx: &C) -> ExitCode {
    let (mut passed, mut failed) = (0, 0);
    for (name, scenario) in chosen {
        eprintln!("e2e: {name} ...");
        match catch_unwind(AssertUnwindSafe(|| scenario(ctx))) {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
