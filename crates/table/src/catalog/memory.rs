//! A catalog in memory for tests of anything that commits: a real compare-and-swap, and
//! failures injected where a test asks for them (a swap that fails before it applies, or after
//! it applied and before its answer: the "unknown outcome" a writer must resolve by reading).

use std::sync::Mutex;

use lambda_kit::Retry;

use super::{Catalog, CatalogError, Pointer, Swap};

/// Where an injected failure strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The next swap fails without changing the pointer.
    BeforeSwap,
    /// The next swap changes the pointer, then fails as if its answer was lost.
    AfterSwap,
}

#[derive(Debug, Default)]
struct State {
    location: Option<String>,
    version: u64,
    swaps: u64,
    conflicts: u64,
    faults: Vec<Fault>,
}

/// One table's pointer in memory.
#[derive(Debug, Default)]
pub struct MemoryCatalog {
    state: Mutex<State>,
    /// How long each call takes, as a catalog a network call away does: writers that run at
    /// the same time then read the same version before any of them swaps.
    latency: std::time::Duration,
}

impl MemoryCatalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// A catalog whose every call takes `latency`.
    pub fn with_latency(latency: std::time::Duration) -> Self {
        Self {
            latency,
            ..Self::default()
        }
    }

    async fn call(&self) {
        if self.latency.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(self.latency).await;
        }
    }

    /// Makes the next swap fail at `fault` (faults queue up, first in first out).
    pub fn inject(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push(fault);
    }

    /// Swaps that moved the pointer, and swaps refused as conflicts, so far.
    pub fn counts(&self) -> (u64, u64) {
        let state = self.state.lock().unwrap();
        (state.swaps, state.conflicts)
    }

    fn lost_answer(&self) -> CatalogError {
        CatalogError::Call {
            catalog: self.describe(),
            operation: "swap",
            table: "test.users".into(),
            code: Some("ServiceUnavailable".into()),
            retry: Retry::Retryable,
            message: "injected failure".into(),
        }
    }
}

impl Catalog for MemoryCatalog {
    async fn load(&self) -> Result<Option<Pointer>, CatalogError> {
        self.call().await;
        let state = self.state.lock().unwrap();
        Ok(state.location.as_ref().map(|location| Pointer {
            metadata_location: location.clone(),
            version: Some(state.version.to_string()),
        }))
    }

    async fn create(&self, metadata_location: &str) -> Result<Swap, CatalogError> {
        let mut state = self.state.lock().unwrap();
        if state.location.is_some() {
            state.conflicts += 1;
            return Ok(Swap::Conflict);
        }
        state.location = Some(metadata_location.to_string());
        state.version += 1;
        state.swaps += 1;
        Ok(Swap::Swapped)
    }

    async fn swap(&self, current: &Pointer, metadata_location: &str) -> Result<Swap, CatalogError> {
        self.call().await;
        let mut state = self.state.lock().unwrap();
        let fault = (!state.faults.is_empty()).then(|| state.faults.remove(0));
        if fault == Some(Fault::BeforeSwap) {
            drop(state);
            return Err(self.lost_answer());
        }
        if state.location.as_deref() != Some(current.metadata_location.as_str())
            || current.version.as_deref() != Some(state.version.to_string().as_str())
        {
            state.conflicts += 1;
            return Ok(Swap::Conflict);
        }
        state.location = Some(metadata_location.to_string());
        state.version += 1;
        state.swaps += 1;
        if fault == Some(Fault::AfterSwap) {
            drop(state);
            return Err(self.lost_answer());
        }
        Ok(Swap::Swapped)
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}
