//! Measuring and recording: repeated timings with a warm-up, and the figure each benchmark
//! reports (median, min, max, unit), which the table and `results.json` are made of.

use std::{cell::RefCell, time::Instant};

use serde::Serialize;

/// How many times to run a measured step.
#[derive(Debug, Clone, Copy)]
pub struct Repeats {
    /// Runs before measuring (caches, allocator, page faults).
    pub warmup: usize,
    /// Measured runs.
    pub samples: usize,
}

/// One benchmark's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub name: String,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub unit: String,
    pub samples: usize,
    /// How this figure compares with a baseline, or what bounds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Figure {
    /// A figure from repeated measurements.
    pub fn of(name: &str, unit: &str, values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Self {
            name: name.into(),
            median,
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            unit: unit.into(),
            samples: n,
            note: None,
        }
    }

    /// A figure measured once.
    pub fn single(name: &str, unit: &str, value: f64) -> Self {
        Self::of(name, unit, &[value])
    }

    /// A rate (`amount` per second) from the same samples in milliseconds: the slowest run
    /// gives the minimum rate.
    pub fn rate(name: &str, unit: &str, amount: f64, millis: &Figure) -> Self {
        Self {
            name: name.into(),
            median: amount / millis.median * 1e3,
            min: amount / millis.max * 1e3,
            max: amount / millis.min * 1e3,
            unit: unit.into(),
            samples: millis.samples,
            note: None,
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// Runs `step` `warmup` times, then `samples` times, and returns each measured run in ms.
pub fn time_ms<T>(repeats: Repeats, mut step: impl FnMut() -> T) -> Vec<f64> {
    for _ in 0..repeats.warmup {
        std::hint::black_box(step());
    }
    (0..repeats.samples).map(|_| once_ms(&mut step)).collect()
}

/// One run of `step`, in ms; its result goes to black_box.
fn once_ms<T>(step: &mut impl FnMut() -> T) -> f64 {
    let started = Instant::now();
    std::hint::black_box(step());
    started.elapsed().as_secs_f64() * 1e3
}

/// As [`time_ms`], for a step that can fail: any failure, in the warm-up or a sample, is the
/// result (the first one), so that a failed run is never counted as a fast one.
pub fn time_checked_ms<T, E>(
    repeats: Repeats,
    step: impl FnMut() -> Result<T, E>,
) -> Result<Vec<f64>, E> {
    let failure = RefCell::new(None);
    let samples = time_ms(repeats, checked(&failure, step));
    failure.into_inner().map_or(Ok(samples), Err)
}

/// Runs two steps that can fail in turn, `a` then `b`, `warmup` times and then `samples`
/// times, and returns each one's measured runs in ms, or the first failure. Two figures held
/// against each other are measured this way when what they run against drifts over a run (a
/// broker's store grows with every record), so that both see the same drift.
pub fn time_alternating_ms<A, B, E>(
    repeats: Repeats,
    a: impl FnMut() -> Result<A, E>,
    b: impl FnMut() -> Result<B, E>,
) -> Result<(Vec<f64>, Vec<f64>), E> {
    let failure = RefCell::new(None);
    let samples = {
        let (mut a, mut b) = (checked(&failure, a), checked(&failure, b));
        for _ in 0..repeats.warmup {
            a();
            b();
        }
        (0..repeats.samples)
            .map(|_| (once_ms(&mut a), once_ms(&mut b)))
            .unzip()
    };
    failure.into_inner().map_or(Ok(samples), Err)
}

/// `step`, its result kept from the optimiser and its first failure kept in `failure`.
fn checked<T, E>(
    failure: &RefCell<Option<E>>,
    mut step: impl FnMut() -> Result<T, E>,
) -> impl FnMut() {
    move || match step() {
        Ok(out) => drop(std::hint::black_box(out)),
        Err(error) => {
            failure.borrow_mut().get_or_insert(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max_of_an_even_count() {
        let figure = Figure::of("x", "ms", &[4.0, 1.0, 3.0, 2.0]);
        assert_eq!((figure.median, figure.min, figure.max), (2.5, 1.0, 4.0));
        assert_eq!(figure.samples, 4);
    }

    #[test]
    fn a_rate_turns_the_slowest_run_into_the_minimum() {
        let millis = Figure::of("t", "ms", &[10.0, 20.0, 40.0]);
        let rate = Figure::rate("r", "records/s", 1_000.0, &millis);
        assert_eq!(
            (rate.median, rate.min, rate.max),
            (50_000.0, 25_000.0, 100_000.0)
        );
    }

    #[test]
    fn timing_runs_the_warmup_and_every_sample() {
        let mut runs = 0;
        let samples = time_ms(
            Repeats {
                warmup: 2,
                samples: 3,
            },
            || runs += 1,
        );
        assert_eq!((runs, samples.len()), (5, 3));
        assert!(samples.iter().all(|ms| *ms >= 0.0));
    }

    #[test]
    fn alternating_timing_runs_the_two_steps_in_turn() {
        let order = RefCell::new(String::new());
        let step = |name| {
            let order = &order;
            move || {
                order.borrow_mut().push(name);
                Ok::<_, ()>(())
            }
        };
        let (a, b) = time_alternating_ms(
            Repeats {
                warmup: 1,
                samples: 2,
            },
            step('a'),
            step('b'),
        )
        .unwrap();
        assert_eq!(order.into_inner(), "ababab");
        assert_eq!((a.len(), b.len()), (2, 2));
    }

    #[test]
    fn a_step_that_fails_in_any_run_gives_its_first_failure_not_timings() {
        let repeats = Repeats {
            warmup: 1,
            samples: 3,
        };
        let mut runs = 0;
        let failing_third = || {
            runs += 1;
            if runs >= 3 { Err(runs) } else { Ok(runs) }
        };
        assert_eq!(time_checked_ms(repeats, failing_third), Err(3));
        assert_eq!(
            time_checked_ms(repeats, || Ok::<_, ()>(1)).map(|s| s.len()),
            Ok(3)
        );

        let mut runs = 0;
        let failing_second = || {
            runs += 1;
            if runs == 2 { Err("b") } else { Ok(()) }
        };
        let fine = || Ok(());
        assert_eq!(time_alternating_ms(repeats, fine, failing_second), Err("b"));
    }
}
