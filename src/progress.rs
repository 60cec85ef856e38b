//! Where a long run is: benchmark, sample i/n, elapsed and ETA, the last sample's decode rate and
//! TTFT. A progress bar on a terminal (on stderr, cleared before criterion prints its analysis);
//! plain lines at most every few seconds otherwise (CI, logs).

use crate::record::GenerationRecord;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Plain-line mode prints at most this often (failures and benchmark ends always print).
const PLAIN_INTERVAL: Duration = Duration::from_secs(10);

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    planned: u64,
    done: u64,
}

impl Progress {
    /// `planned`: generations the run expects (warm-ups and samples of every benchmark).
    pub fn new(planned: u64) -> Progress {
        let now = Instant::now();
        let bar = std::io::stderr()
            .is_terminal()
            .then(|| make_bar(planned, 0, Duration::ZERO));
        Progress {
            bar,
            started: now,
            last_line: now,
            planned,
            done: 0,
        }
    }

    /// Prints a line without tearing the bar.
    pub fn say(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    /// One generation finished: `index` and `of` count this benchmark's warm-ups or samples.
    pub fn generation(&mut self, benchmark: &str, index: u32, of: u32, record: &GenerationRecord) {
        self.done += 1;
        let phase = if record.warmup { "warm-up" } else { "sample" };
        let outcome = if record.ok {
            let rate = record
                .metrics
                .decode_rate
                .map_or("–".into(), |r| format!("{r:.1} tok/s"));
            let ttft = record
                .metrics
                .ttft_s
                .map_or("–".into(), |t| format!("{:.0} ms", t * 1e3));
            format!("decode {rate}, TTFT {ttft}")
        } else {
            format!("FAILED: {}", record.error.as_deref().unwrap_or("?"))
        };
        let status = format!("{benchmark} {phase} {}/{of}: {outcome}", index + 1);
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.done.min(self.planned));
                bar.set_message(status);
                if !record.ok {
                    bar.suspend(|| {
                        eprintln!(
                            "{benchmark} {phase} {}/{of} failed: {}",
                            index + 1,
                            record.error.as_deref().unwrap_or("?")
                        )
                    });
                }
                if !record.warmup && index + 1 == of {
                    // criterion prints its analysis next: leave the terminal to it.
                    bar.finish_and_clear();
                    self.bar = Some(make_bar(self.planned, self.done, self.started.elapsed()));
                }
            }
            None => {
                let last_of_benchmark = !record.warmup && index + 1 == of;
                if !record.ok || last_of_benchmark || self.last_line.elapsed() >= PLAIN_INTERVAL {
                    self.last_line = Instant::now();
                    eprintln!(
                        "[quantbench {} elapsed, {}/{} generations, ETA {}] {status}",
                        fmt_duration(self.started.elapsed()),
                        self.done,
                        self.planned,
                        self.eta()
                    );
                }
            }
        }
    }

    fn eta(&self) -> String {
        if self.done == 0 || self.done >= self.planned {
            return "–".into();
        }
        let per = self.started.elapsed().as_secs_f64() / self.done as f64;
        fmt_duration(Duration::from_secs_f64(per * (self.planned - self.done) as f64))
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn make_bar(planned: u64, done: u64, elapsed: Duration) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(planned), ProgressDrawTarget::stderr_with_hz(4)).with_elapsed(elapsed);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise} ETA {eta}] {bar:30} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    bar.set_position(done.min(planned));
    bar
}

fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
