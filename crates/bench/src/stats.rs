//! Small numeric helpers shared by the measurements: medians, the log-log scaling fit
//! and the process's peak memory.

use std::time::Duration;

/// The median of `times` (the upper one of an even count), in seconds; 0 when empty.
pub fn median_seconds(times: &mut [Duration]) -> f64 {
    times.sort();
    times.get(times.len() / 2).map(Duration::as_secs_f64).unwrap_or(0.0)
}

/// The exponent `b` of `seconds ≈ a · size^b`, from a least-squares line through
/// `(ln size, ln seconds)`. 1 means linear, 2 quadratic. None with fewer than two
/// usable points (a time of zero has no logarithm).
pub fn scaling_exponent(points: &[(usize, f64)]) -> Option<f64> {
    let logs: Vec<(f64, f64)> = points
        .iter()
        .filter(|(n, s)| *n > 0 && *s > 0.0)
        .map(|(n, s)| ((*n as f64).ln(), s.ln()))
        .collect();
    if logs.len() < 2 {
        return None;
    }
    let count = logs.len() as f64;
    let mean_x = logs.iter().map(|(x, _)| x).sum::<f64>() / count;
    let mean_y = logs.iter().map(|(_, y)| y).sum::<f64>() / count;
    let covariance: f64 = logs.iter().map(|(x, y)| (x - mean_x) * (y - mean_y)).sum();
    let variance: f64 = logs.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    (variance > 0.0).then(|| covariance / variance)
}

/// This process's peak resident set size in MB (`VmHWM` in /proc/self/status), the
/// figure the kernel keeps for us: sampling RSS ourselves would miss short peaks.
pub fn peak_rss_mb() -> Result<f64, String> {
    let status =
        std::fs::read_to_string("/proc/self/status").map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .ok_or("no VmHWM line in /proc/self/status")?;
    Ok(kb / 1024.0)
}

/// Rounds to four significant digits for the JSON line, so it stays readable without
/// flattening the small figures (a plan of 1000 resources takes milliseconds).
pub fn round4(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}
