//! The one place that writes to the terminal's stderr: progress bars (rate, ETA) and logs, which
//! print above the bars. Bars are hidden when stderr is not a terminal, with `--quiet` and with
//! `--json`; logs also go, in full, to a file under the workspace.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Progress bars for long work.
#[derive(Clone)]
pub struct Progress {
    multi: MultiProgress,
    show: bool,
    quiet: bool,
}

impl Progress {
    /// Bars are drawn only when `show` and stderr is a terminal.
    pub fn new(show: bool, quiet: bool) -> Self {
        let show = show && !quiet && std::io::stderr().is_terminal();
        let target = if show { ProgressDrawTarget::stderr_with_hz(10) } else { ProgressDrawTarget::hidden() };
        Self { multi: MultiProgress::with_draw_target(target), show, quiet }
    }

    /// No bars, no messages (tests, benchmarks).
    pub fn hidden() -> Self {
        Self { multi: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()), show: false, quiet: true }
    }

    /// A bar for one unit of work (a repository): a spinner until `set_total` gives it a length.
    pub fn bar(&self, prefix: &str) -> ProgressBar {
        if !self.show {
            return ProgressBar::hidden();
        }
        let style = ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = self.multi.add(ProgressBar::new(0).with_style(style).with_prefix(prefix.to_string()));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// A notice above the bars (on stderr), unless quiet.
    pub fn println(&self, msg: &str) {
        if self.quiet {
            return;
        }
        if self.show {
            let _ = self.multi.println(msg);
        } else {
            eprintln!("{msg}");
        }
    }

    fn multi(&self) -> MultiProgress {
        self.multi.clone()
    }
}

/// Writes to stderr with the bars suspended, so log lines never tear a bar.
#[derive(Clone)]
struct BarAwareStderr(MultiProgress);

impl Write for BarAwareStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.suspend(|| std::io::stderr().write(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for BarAwareStderr {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[derive(Clone)]
struct SharedFile(Arc<Mutex<std::fs::File>>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut f) => f.write(buf),
            Err(_) => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut f) => f.flush(),
            Err(_) => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for SharedFile {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs logging: stderr at `stderr_filter` (e.g. "warn", or `SWEGYM_LOG`), and, when
/// `log_dir` is given, a debug-level file `<log_dir>/<command>-<time>.log`. Returns the file path.
pub fn init_logging(
    progress: &Progress,
    stderr_filter: &str,
    log_dir: Option<&Path>,
    command: &str,
) -> Option<PathBuf> {
    // Our crate at the chosen level, everything else (hyper, octocrab, duckdb) at warn.
    let stderr_filter = EnvFilter::try_new(stderr_filter).unwrap_or_else(|_| EnvFilter::new("warn"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(BarAwareStderr(progress.multi()))
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(stderr_filter);
    let mut path = None;
    let file_layer = log_dir.and_then(|dir| {
        std::fs::create_dir_all(dir).ok()?;
        let p = dir.join(format!("{command}-{}.log", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")));
        let f = std::fs::File::create(&p).ok()?;
        path = Some(p);
        Some(
            tracing_subscriber::fmt::layer()
                .with_writer(SharedFile(Arc::new(Mutex::new(f))))
                .with_ansi(false)
                .with_filter(EnvFilter::new("warn,swegym_build=debug")),
        )
    });
    // A second init (tests calling the CLI entry point twice) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(stderr).with(file_layer).try_init();
    path
}

/// Sets how much work a bar has; the first time, it turns from a spinner into a bar with rate and ETA.
pub fn set_total(bar: &ProgressBar, total: u64, unit: &str) {
    if bar.is_hidden() || total == 0 {
        return;
    }
    if bar.length() == Some(0) {
        let style = ProgressStyle::with_template(
            &format!("{{spinner}} {{prefix:.bold}} [{{bar:25.cyan/blue}}] {{pos}}/{{len}} {unit} · {{per_sec}} · eta {{eta}} · {{msg}}"),
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
    }
    bar.set_length(total);
}
