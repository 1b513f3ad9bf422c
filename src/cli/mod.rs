//! The `smileloop` command line: `serve` runs the kiosk (the default);
//! the other subcommands render, check and set up the box. `main.rs` only
//! calls [`main`].

mod render;
mod selftest;
mod staff;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;

#[derive(Parser)]
#[command(name = "smileloop", version, about = "SmileLoop photo-animation kiosk")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the kiosk (the default): kiosk and guest listeners, worker, retention.
    Serve,
    /// Animate one photo into an MP4 loop, with its preview and poster.
    Animate {
        photo: PathBuf,
        /// Preset id (see `presets/`).
        #[arg(long)]
        preset: String,
        /// The clean HD video.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// The watermarked preview (default: OUTPUT with `.preview.mp4`).
        #[arg(long)]
        preview: Option<PathBuf>,
        /// The poster image (default: OUTPUT with `.poster.jpg`).
        #[arg(long)]
        poster: Option<PathBuf>,
    },
    /// A contact sheet: each photo, then its peak frame for every preset.
    Sheet {
        photos: Vec<PathBuf>,
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Height of each cell in pixels.
        #[arg(long, default_value_t = 360)]
        cell: u32,
    },
    /// List the presets.
    Presets,
    /// Is the box ready for guests? Camera, animator, encoder, disk, clock,
    /// Stripe, public URL. Exit code 0 only when nothing failed. Asks the
    /// running kiosk, or starts one for the test when none runs.
    Selftest {
        /// The report as JSON on stdout, for machines.
        #[arg(long)]
        json: bool,
        /// A portrait to time the animator with (default: a preset
        /// sample's poster from `smileloop samples`).
        #[arg(long)]
        photo: Option<PathBuf>,
    },
    /// Render the sample loop of every preset from one photo, for the
    /// attract screen and the animation picker (into `data_dir/samples`).
    /// Use a photo whose subject agreed to be shown to every guest.
    Samples { photo: PathBuf },
    /// Staff access to the admin page.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Load LivePortrait's networks on the configured provider and run
    /// them once, so that TensorRT builds its engines (into
    /// `data_dir/tensorrt-cache`) before the first guest; run by
    /// `smileloop-engines.service` at boot. Exit code 1 when they cannot
    /// load on that provider.
    PrepareEngines,
    /// Find faces and landmarks in photos (a check of the face models).
    Faces {
        photos: Vec<PathBuf>,
        /// Also write each photo with its landmarks drawn, into this folder.
        #[arg(long)]
        draw: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Set the staff password (asked twice on a terminal, else one line
    /// from stdin); signs every staff device out. Run it while the kiosk
    /// is stopped: the store allows one process at a time.
    SetPassword,
}

/// Parses the command line and runs the command; the exit code says how
/// it went (2: the configuration did not load).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::app::init_tracing();
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("smileloop: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Selftest { json, photo } => return selftest::selftest(settings, json, photo),
        Command::Serve => crate::app::serve(settings),
        Command::Animate {
            photo,
            preset,
            output,
            preview,
            poster,
        } => render::animate_one(
            &settings,
            &photo,
            &preset,
            &render::outputs(output, preview, poster),
        ),
        Command::Sheet {
            photos,
            output,
            cell,
        } => render::sheet(&settings, &photos, &output, cell),
        Command::Samples { photo } => render::samples(&settings, &photo),
        Command::PrepareEngines => render::prepare_engines(&settings),
        Command::Faces { photos, draw } => render::faces(&settings, &photos, draw.as_deref()),
        Command::Admin {
            command: AdminCommand::SetPassword,
        } => staff::set_password(&settings),
        Command::Presets => render::presets(&settings),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("smileloop: {message}");
            ExitCode::FAILURE
        }
    }
}
