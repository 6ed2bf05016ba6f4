//! Progress while a fleet runs, on stderr: indicatif bars on a terminal, timestamped
//! one-line events anywhere else (CI logs, cron mail, pipes), nothing with `--quiet`.
//! Only the targets running have a bar; a finished target leaves one line above the bars,
//! so a fleet of a hundred hosts fits any terminal.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::format_duration;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bars,
    Lines,
    Off,
}

pub(super) struct Live {
    mode: Mode,
    multi: MultiProgress,
    overall: Option<ProgressBar>,
    bars: Mutex<Vec<Option<ProgressBar>>>,
    ids: Vec<String>,
    width: usize,
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner:.cyan} {prefix} {wide_msg} {elapsed:>4}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner:.cyan} {prefix} [{bar:20.cyan/blue}] {pos}/{len} {wide_msg} {elapsed:>4}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

impl Live {
    pub(super) fn new(mode: Mode, ids: &[String]) -> Live {
        let width = ids.iter().map(|i| i.chars().count()).max().unwrap_or(0);
        let multi = MultiProgress::with_draw_target(if mode == Mode::Bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let overall = (mode == Mode::Bars && ids.len() > 1).then(|| {
            let bar = multi.add(ProgressBar::new(ids.len() as u64));
            bar.set_style(
                ProgressStyle::with_template(
                    "  {prefix} [{bar:20.green/white}] {pos}/{len} targets {elapsed:>4}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("{:width$}", "fleet"));
            bar
        });
        Live {
            mode,
            multi,
            overall,
            bars: Mutex::new(vec![None; ids.len()]),
            ids: ids.to_vec(),
            width,
        }
    }

    pub(super) fn mode(&self) -> Mode {
        self.mode
    }

    fn bar(&self, target: usize) -> Option<ProgressBar> {
        if self.mode != Mode::Bars {
            return None;
        }
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        let slot = bars.get_mut(target)?;
        Some(
            slot.get_or_insert_with(|| {
                let bar = match &self.overall {
                    Some(overall) => self
                        .multi
                        .insert_before(overall, ProgressBar::new_spinner()),
                    None => self.multi.add(ProgressBar::new_spinner()),
                };
                bar.set_style(spinner_style());
                bar.set_prefix(format!("{:w$}", self.ids[target], w = self.width));
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            })
            .clone(),
        )
    }

    /// A step of a target: a bar's message, or a timestamped line.
    pub(super) fn step(&self, target: usize, text: &str) {
        match self.mode {
            Mode::Bars => {
                if let Some(bar) = self.bar(target) {
                    bar.set_message(text.to_string());
                }
            }
            Mode::Lines => self.line(target, text),
            Mode::Off => {}
        }
    }

    /// A step worth keeping on screen (`--verbose`, lock waits): above the bars, or a line.
    pub(super) fn note(&self, target: usize, text: &str) {
        match self.mode {
            Mode::Bars => self.println(&format!("  {}  {text}", self.ids[target])),
            Mode::Lines => self.line(target, text),
            Mode::Off => {}
        }
    }

    pub(super) fn planned(&self, target: usize, total: usize) {
        if let Some(bar) = self.bar(target) {
            bar.set_style(bar_style());
            bar.set_length(total as u64);
            bar.set_position(0);
        }
    }

    pub(super) fn advance(&self, target: usize, position: usize) {
        if let Some(bar) = self.bar(target) {
            bar.set_position(position as u64);
        }
    }

    /// The target's end: its bar gives way to one line.
    pub(super) fn finish(&self, target: usize, ok: Option<bool>, text: &str) {
        let mark = match ok {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "=",
        };
        match self.mode {
            Mode::Bars => {
                let bar = self
                    .bars
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(target)
                    .and_then(Option::take);
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                let mark = match ok {
                    Some(true) => style(mark).green().to_string(),
                    Some(false) => style(mark).red().to_string(),
                    None => style(mark).dim().to_string(),
                };
                let id = format!("{:w$}", self.ids[target], w = self.width);
                self.println(&format!("{mark} {id}  {text}"));
                if let Some(overall) = &self.overall {
                    overall.inc(1);
                }
            }
            Mode::Lines => self.line(target, &format!("{mark} {text}")),
            Mode::Off => {}
        }
    }

    /// A line for the whole run (interrupts).
    pub(super) fn run_line(&self, text: &str) {
        match self.mode {
            Mode::Bars => self.println(text),
            Mode::Lines => eprint_line(&format!("{} {text}", timestamp())),
            Mode::Off => eprint_line(text),
        }
    }

    /// Any stderr text while bars may be drawn (errors), so it does not tear them.
    pub(super) fn println(&self, text: &str) {
        if self.mode == Mode::Bars {
            let _ = self.multi.println(text);
        } else {
            eprint_line(text);
        }
    }

    /// Clears the bars before the summary is printed.
    pub(super) fn end(&self) {
        if let Some(overall) = &self.overall {
            overall.finish_and_clear();
        }
        for bar in self
            .bars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
            .filter_map(Option::take)
        {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }

    fn line(&self, target: usize, text: &str) {
        eprint_line(&format!(
            "{} {:w$}  {text}",
            timestamp(),
            self.ids[target],
            w = self.width
        ));
    }
}

pub(super) fn timestamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn eprint_line(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// "4 applied in 1.2s"-style phrases.
pub(super) fn counted(n: usize, what: &str, took: Duration) -> String {
    format!("{n} {what} in {}", format_duration(took))
}
