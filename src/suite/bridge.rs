//! The bridge to criterion, which times one function per benchmark and has no way to stop one:
//! a benchmark is abandoned by unwinding out of it with an [`Abandon`] payload, and the run is
//! ended with a [`Fatal`] one — never by handing criterion a made-up duration.

use anyhow::Result;
use criterion::Criterion;
use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

/// Payload of the unwinding that abandons one benchmark, with the reason.
pub struct Abandon(pub String);
/// Payload that ends the run: measuring on is pointless (e.g. records cannot be written).
pub struct Fatal(pub anyhow::Error);

/// criterion's own warm-up and measurement times shrunk to nothing: each of its calls is one
/// timed generation per iteration, and the warm-ups are ours.
pub fn one_call_per_sample(criterion: Criterion) -> Criterion {
    criterion.warm_up_time(Duration::from_nanos(1)).measurement_time(Duration::from_nanos(1))
}

/// Abandons the benchmark being measured.
pub fn abandon(reason: String) -> ! {
    resume_unwind(Box::new(Abandon(reason)))
}

/// Ends the run from inside a benchmark.
pub fn fatal(error: anyhow::Error) -> ! {
    resume_unwind(Box::new(Fatal(error)))
}

/// Runs `measure` (which calls into criterion); `Ok(Some(reason))` when it abandoned the
/// benchmark, `Err` when it ended the run. Any other panic goes on unwinding.
pub fn catch(measure: impl FnOnce()) -> Result<Option<String>> {
    let payload: Box<dyn Any + Send> = match catch_unwind(AssertUnwindSafe(measure)) {
        Ok(()) => return Ok(None),
        Err(payload) => payload,
    };
    let payload = match payload.downcast::<Fatal>() {
        Ok(fatal) => return Err(fatal.0),
        Err(other) => other,
    };
    match payload.downcast::<Abandon>() {
        Ok(abandon) => Ok(Some(abandon.0)),
        Err(other) => resume_unwind(other),
    }
}
