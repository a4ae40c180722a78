//! The end-to-end suites' runner. One stack serves many scenarios (it takes a while to start),
//! so each suite is a program with its own harness, on `libtest-mimic`: libtest's command line
//! (`--list`, `--exact`, `--skip`, name filters; nextest runs the suites too) and its report.
//! The scenarios run one at a time, in the suite's order, each caught on its own. The context
//! (the stack) is set up when the first chosen scenario runs, so listing the suite, or choosing
//! none of it, starts nothing; it is torn down once the last scenario ends.

use std::{
    process::ExitCode,
    sync::{Arc, Mutex, OnceLock},
};

use libtest_mimic::{Arguments, Failed, Trial};

/// A named step of a suite, run against the suite's context.
pub type Scenario<C> = (&'static str, fn(&C));

/// Runs `scenarios` as the command line asks, on the context `setup` makes; the exit code says
/// whether every scenario run passed.
pub fn run<C, F>(scenarios: &[Scenario<C>], setup: F) -> ExitCode
where
    C: Send + Sync + 'static,
    F: FnOnce() -> anyhow::Result<C> + Send + 'static,
{
    let mut args = Arguments::from_args();
    // One stack on fixed ports: the scenarios share it and must not run at once.
    args.test_threads = Some(1);
    let context: Arc<OnceLock<Result<C, String>>> = Arc::default();
    let setup = Arc::new(Mutex::new(Some(setup)));
    let trials = scenarios
        .iter()
        .map(|&(name, scenario)| {
            let (context, setup) = (context.clone(), setup.clone());
            Trial::test(name, move || {
                let ctx = context.get_or_init(|| {
                    let setup = (setup.lock().expect("not poisoned").take())
                        .expect("the context is set up once");
                    setup().map_err(|error| format!("{error:#}"))
                });
                match ctx {
                    Ok(ctx) => {
                        scenario(ctx);
                        Ok(())
                    }
                    Err(error) => Err(Failed::from(format!(
                        "cannot start the local stack: {error}"
                    ))),
                }
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    // The trials, and with them the other handles of the context, are gone: the stack stops.
    drop(context);
    conclusion.exit_code()
}
