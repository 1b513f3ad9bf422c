//! What the dashboard shows: the night's figures from the job records
//! (pure), disk space and the Linux thermal zones (I/O at the edge).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::jobs::{Job, JobId, Payment, Status, UnlockReason};

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub photos: usize,
    pub previews: usize,
    pub paid: usize,
    pub staff_unlocks: usize,
    /// Paid or staff-unlocked previews as a share of previews, 0-1.
    pub conversion: f64,
    /// Minor units per currency.
    pub revenue: BTreeMap<String, i64>,
    pub failed: usize,
    pub flagged: usize,
}

/// Figures for jobs created since `since_ms`; ledger payments (of jobs
/// deleted since) count towards paid and revenue.
pub fn figures(jobs: &[Job], ledger: &[(JobId, Payment)], since_ms: i64) -> Figures {
    let mut f = Figures::default();
    for j in jobs.iter().filter(|j| j.created_at >= since_ms) {
        f.photos += 1;
        if j.finished_at.is_some() && j.status != Status::Failed {
            f.previews += 1;
        }
        if j.status == Status::Failed {
            f.failed += 1;
        }
        if j.staff_flag.is_some() {
            f.flagged += 1;
        }
        if let Some(UnlockReason::StaffCash | UnlockReason::StaffComp) = j.unlock {
            f.staff_unlocks += 1;
        }
        if let Some(p) = &j.payment {
            f.paid += 1;
            *f.revenue.entry(p.currency.clone()).or_default() += p.amount_cents;
        }
    }
    for (_, p) in ledger.iter().filter(|(_, p)| p.recorded_at >= since_ms) {
        f.paid += 1;
        *f.revenue.entry(p.currency.clone()).or_default() += p.amount_cents;
    }
    if f.previews > 0 {
        f.conversion = ((f.paid + f.staff_unlocks) as f64 / f.previews as f64).min(1.0);
    }
    f
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disk {
    pub free_bytes: u64,
    pub total_bytes: u64,
    /// How many days of guests the free space holds at the last day's pace
    /// (None: no guests yet to judge by).
    pub days_left: Option<f64>,
}

/// Free space where the data lives.
pub fn disk(data_dir: &Path) -> Option<(u64, u64)> {
    let s = rustix::fs::statvfs(data_dir).ok()?;
    Some((
        s.f_bavail.saturating_mul(s.f_frsize),
        s.f_blocks.saturating_mul(s.f_frsize),
    ))
}

/// Bytes under `dir`, one level of job folders deep.
pub fn jobs_bytes(jobs_dir: &Path) -> u64 {
    let Ok(dirs) = std::fs::read_dir(jobs_dir) else {
        return 0;
    };
    dirs.flatten()
        .filter_map(|d| std::fs::read_dir(d.path()).ok())
        .flat_map(|files| files.flatten())
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Days the free space lasts at `jobs_per_day` of `bytes_per_job`.
pub fn days_left(free: u64, bytes_per_job: u64, jobs_per_day: usize) -> Option<f64> {
    (bytes_per_job > 0 && jobs_per_day > 0)
        .then(|| free as f64 / (bytes_per_job as f64 * jobs_per_day as f64))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thermal {
    pub zone: String,
    pub celsius: f64,
    /// The lowest passive or hot trip point: where the SoC starts slowing.
    pub throttle_at: Option<f64>,
    /// Within 5 °C of throttling.
    pub warning: bool,
}

/// The thermal zones under `root` (`/sys/class/thermal` on Linux and on
/// the Jetson, whose zones are named `cpu-thermal`, `gpu-thermal`, …).
pub fn thermal(root: &Path) -> Vec<Thermal> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return vec![];
    };
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let milli = |p: &Path| {
        read(p)
            .and_then(|s| s.parse::<f64>().ok())
            .map(|m| m / 1000.0)
    };
    let mut zones: Vec<Thermal> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
        .filter_map(|e| {
            let dir = e.path();
            let celsius = milli(&dir.join("temp"))?;
            let zone =
                read(&dir.join("type")).unwrap_or_else(|| e.file_name().to_string_lossy().into());
            let throttle_at = (0..16)
                .filter(|i| {
                    matches!(
                        read(&dir.join(format!("trip_point_{i}_type"))).as_deref(),
                        Some("passive" | "hot")
                    )
                })
                .filter_map(|i| milli(&dir.join(format!("trip_point_{i}_temp"))))
                .filter(|t| *t > 0.0)
                .reduce(f64::min);
            let warning = throttle_at.is_some_and(|t| celsius >= t - 5.0);
            Some(Thermal {
                zone,
                celsius,
                throttle_at,
                warning,
            })
        })
        .collect();
    zones.sort_by(|a, b| a.zone.cmp(&b.zone));
    zones
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::Price;

    #[test]
    fn figures_count_the_night() {
        let mut jobs = vec![];
        for i in 0..4 {
            let mut j = Job::new(
                "soft_smile".parse().expect("preset id"),
                "s.jpg",
                10_000 + i,
            );
            j.finished_at = Some(20_000);
            j.status = Status::PreviewReady;
            j.price = Some(Price {
                cents: 799,
                currency: "usd".into(),
            });
            jobs.push(j);
        }
        jobs[0].status = Status::Unlocked;
        jobs[0].payment = Some(Payment {
            session_id: "cs_1".into(),
            amount_cents: 799,
            currency: "usd".into(),
            recorded_at: 30_000,
            seen_by: crate::jobs::SeenBy::Webhook,
        });
        jobs[1].status = Status::Unlocked;
        jobs[1].unlock = Some(UnlockReason::StaffCash);
        jobs[2].status = Status::Failed;
        jobs.push(Job::new(
            "soft_smile".parse().expect("preset id"),
            "s.jpg",
            5,
        )); // before the window
        let ledger = vec![(
            JobId::generate(),
            Payment {
                session_id: "cs_2".into(),
                amount_cents: 500,
                currency: "eur".into(),
                recorded_at: 40_000,
                seen_by: crate::jobs::SeenBy::Poll,
            },
        )];
        let f = figures(&jobs, &ledger, 10_000);
        assert_eq!((f.photos, f.previews, f.failed), (4, 3, 1));
        assert_eq!((f.paid, f.staff_unlocks), (2, 1));
        assert_eq!(f.revenue.get("usd"), Some(&799));
        assert_eq!(f.revenue.get("eur"), Some(&500));
        assert!((f.conversion - 1.0).abs() < 1e-9);
    }

    #[test]
    fn thermal_zones_and_trip_points_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zone = |n: &str, ty: &str, temp: &str, trips: &[(&str, &str)]| {
            let z = dir.path().join(n);
            std::fs::create_dir_all(&z).expect("mkdir");
            std::fs::write(z.join("type"), ty).expect("write");
            std::fs::write(z.join("temp"), temp).expect("write");
            for (i, (kind, t)) in trips.iter().enumerate() {
                std::fs::write(z.join(format!("trip_point_{i}_type")), kind).expect("write");
                std::fs::write(z.join(format!("trip_point_{i}_temp")), t).expect("write");
            }
        };
        zone(
            "thermal_zone0",
            "cpu-thermal\n",
            "71500\n",
            &[("critical", "105000"), ("passive", "75000")],
        );
        zone("thermal_zone1", "gpu-thermal", "40000", &[("hot", "95000")]);
        zone("thermal_zone2", "broken", "n/a", &[]);
        std::fs::create_dir_all(dir.path().join("cooling_device0")).expect("mkdir");
        let t = thermal(dir.path());
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].zone, "cpu-thermal");
        assert_eq!(t[0].throttle_at, Some(75.0));
        assert!(t[0].warning);
        assert!(!t[1].warning);
        assert!((t[1].celsius - 40.0).abs() < 1e-9);
    }

    #[test]
    fn disk_space_is_read_and_projected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (free, total) = disk(dir.path()).expect("statvfs");
        assert!(free > 0 && total >= free);
        assert_eq!(days_left(1000, 0, 5), None);
        assert_eq!(days_left(1000, 10, 5), Some(20.0));
    }
}
