//! Progress bars for long work: on stderr, hidden when asked to be or when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps drawn with `template` (an indicatif template), or a hidden one when `!show`.
///
/// # Panics
/// If `template` does not parse; callers pass constants.
pub fn bar(show: bool, len: u64, template: &'static str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(template)
        .expect("valid progress template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}
