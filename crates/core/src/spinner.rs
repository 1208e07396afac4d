//! The stderr spinner shown while the model has not sent its first token.
//!
//! It runs only when stderr is a terminal (and not with `-q` or `-v`): pipes and log files
//! never see its bytes. It is erased before any status line is printed and stopped for
//! good before the first text reaches stdout, so text and status lines always start on a
//! clean line.
#![allow(clippy::print_stderr)]

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/// Nothing is drawn for quick answers: the first frame comes after this.
const FIRST_FRAME: Duration = Duration::from_millis(150);
const TICK: Duration = Duration::from_millis(100);

static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Whether a spinner line is on screen; held while anything is drawn or erased.
static DRAWN: Mutex<bool> = Mutex::new(false);

/// Starts the spinner on a background thread.
pub fn start(label: String) {
    if ACTIVE.swap(true, Ordering::SeqCst) {
        return;
    }
    let started = Instant::now();
    let spawned = std::thread::Builder::new()
        .name("spinner".into())
        .spawn(move || {
            std::thread::sleep(FIRST_FRAME);
            let mut frame = 0usize;
            while ACTIVE.load(Ordering::SeqCst) {
                {
                    let mut drawn = DRAWN.lock().unwrap_or_else(|e| e.into_inner());
                    if !ACTIVE.load(Ordering::SeqCst) {
                        break;
                    }
                    let mut err = std::io::stderr().lock();
                    let _ = write!(
                        err,
                        "\r{} {label} {:.1}s\x1b[K",
                        FRAMES[frame % FRAMES.len()],
                        started.elapsed().as_secs_f64()
                    );
                    let _ = err.flush();
                    *drawn = true;
                }
                frame += 1;
                std::thread::sleep(TICK);
            }
        });
    if spawned.is_err() {
        ACTIVE.store(false, Ordering::SeqCst);
    }
}

/// Stops the spinner for good and erases its line.
pub fn stop() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        quiet(|| ());
    }
}

/// Runs `f` (which prints to stderr) with the spinner's line erased; the spinner redraws
/// on its next tick.
pub fn quiet<R>(f: impl FnOnce() -> R) -> R {
    let mut drawn = DRAWN.lock().unwrap_or_else(|e| e.into_inner());
    if *drawn {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(b"\r\x1b[K");
        let _ = err.flush();
        *drawn = false;
    }
    f()
}
