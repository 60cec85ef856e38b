//! The bridge to criterion, which times one function per benchmark and has no way to stop one:
//! a benchmark is abandoned by unwinding out of it with an [`Abandon`] payload, the rest of its
//! group with an [`AbandonGroup`] one, and the run is ended with a [`Fatal`] one — never by
//! handing criterion a made-up duration.

use anyhow::Result;
use criterion::Criterion;
use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

/// Payload of the unwinding that abandons one benchmark, with the reason.
pub struct Abandon(pub String);
/// Payload of the unwinding that stops the rest of a group (its server rejects every request).
pub struct AbandonGroup(pub String);
/// Payload that ends the run: measuring on is pointless (e.g. records cannot be written).
pub struct Fatal(pub anyhow::Error);

/// criterion's own warm-up and measurement times shrunk to nothing: each of its calls is one
/// timed generation per iteration, and the warm-ups are ours.
pub fn one_call_per_sample(criterion: Criterion) -> Criterion {
    criterion
        .warm_up_time(Duration::from_nanos(1))
        .measurement_time(Duration::from_nanos(1))
}

/// Abandons the benchmark being measured.
pub fn abandon(reason: String) -> ! {
    resume_unwind(Box::new(Abandon(reason)))
}

/// Stops the rest of the group from inside its benchmark.
pub fn abandon_group(reason: String) -> ! {
    resume_unwind(Box::new(AbandonGroup(reason)))
}

/// Ends the run from inside a benchmark.
pub fn fatal(error: anyhow::Error) -> ! {
    resume_unwind(Box::new(Fatal(error)))
}

/// How a measured benchmark ended.
pub enum Ended {
    Ran,
    /// The benchmark was abandoned, for this reason.
    Abandoned(String),
    /// The rest of its group was stopped, for this reason.
    GroupStopped(String),
}

/// Runs `measure` (which calls into criterion) and says how it ended; `Err` when it ended the
/// run. Any other panic goes on unwinding.
pub fn catch(measure: impl FnOnce()) -> Result<Ended> {
    let payload: Box<dyn Any + Send> = match catch_unwind(AssertUnwindSafe(measure)) {
        Ok(()) => return Ok(Ended::Ran),
        Err(payload) => payload,
    };
    let payload = match payload.downcast::<Fatal>() {
        Ok(fatal) => return Err(fatal.0),
        Err(other) => other,
    };
    let payload = match payload.downcast::<AbandonGroup>() {
        Ok(stop) => return Ok(Ended::GroupStopped(stop.0)),
        Err(other) => other,
    };
    match payload.downcast::<Abandon>() {
        Ok(abandon) => Ok(Ended::Abandoned(abandon.0)),
        Err(other) => resume_unwind(other),
    }
}
