//! Debian's chromium, headless, driven over the DevTools protocol (headless_chrome): it never
//! downloads a browser of its own. As root it needs `--no-sandbox`; a fresh profile directory
//! each time; the process is killed when the handle drops.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};

use super::TempDir;

pub struct Chromium {
    browser: Browser,
    _profile: TempDir,
}

impl Chromium {
    pub fn launch() -> Chromium {
        let path = PathBuf::from("/usr/bin/chromium");
        assert!(
            path.exists(),
            "/usr/bin/chromium is missing: run scripts/install-test-deps.sh (apt-get install chromium)"
        );
        let profile = TempDir::new("chromium-profile");
        let args: Vec<&OsStr> = [
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ]
        .iter()
        .map(OsStr::new)
        .collect();
        let options = LaunchOptions {
            headless: true,
            sandbox: false,
            path: Some(path),
            user_data_dir: Some(profile.join("")),
            window_size: Some((1400, 900)),
            args,
            idle_browser_timeout: Duration::from_secs(120),
            ..LaunchOptions::default()
        };
        let browser = Browser::new(options).expect("chromium starts");
        Chromium {
            browser,
            _profile: profile,
        }
    }

    /// A new tab showing `url`, loaded.
    pub fn open(&self, url: &str) -> Arc<Tab> {
        let tab = self.browser.new_tab().expect("a tab");
        tab.navigate_to(url).expect("navigate");
        tab.wait_until_navigated().expect("page loaded");
        tab
    }
}

/// The value of `js` in the page (JSON-serialisable results only).
pub fn eval(tab: &Tab, js: &str) -> serde_json::Value {
    let wrapped = format!("JSON.stringify((() => {{ {js} }})())");
    let out = tab.evaluate(&wrapped, false).expect("evaluate");
    let text = out
        .value
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "null".into());
    serde_json::from_str(&text).expect("JSON from the page")
}

/// Saves a PNG of the page as it shows.
pub fn screenshot(tab: &Tab, path: &Path) {
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("screenshot");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("screenshot folder");
    }
    std::fs::write(path, png).expect("write the screenshot");
}
