//! Which MPI launcher starts a job, and the flags that launcher needs, so
//! that the tests and the benchmark run under Open MPI and MPICH alike
//! (`scripts/launcher.sh` is the same for the shell scripts).
//!
//! The launcher is `mpirun` unless [`LAUNCHER_ENV`] names another (e.g.
//! `MPITORRENT_MPIRUN=mpirun.mpich`). What it is comes from its
//! `--version`: Open MPI says "Open MPI", MPICH's Hydra (and the MPIs built
//! on it) says "HYDRA". Open MPI refuses more ranks than cores without
//! `--oversubscribe` and refuses root without two variables; Hydra rejects
//! that flag and oversubscribes by default, so it gets no flags.

use std::ffi::{OsStr, OsString};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The environment variable naming the launcher (default `mpirun`).
pub const LAUNCHER_ENV: &str = "MPITORRENT_MPIRUN";

/// The MPI a launcher belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    OpenMpi,
    /// MPICH's Hydra, or an MPI built on it (Intel MPI, MVAPICH).
    Hydra,
    /// Not recognised, or it could not be run: no flags are added, and the
    /// launcher's own error will say what is wrong.
    Unknown,
}

impl Flavor {
    /// Reads a launcher's `--version` output.
    pub fn from_version(text: &str) -> Flavor {
        if text.contains("Open MPI") || text.contains("OpenRTE") {
            Flavor::OpenMpi
        } else if text.contains("HYDRA") {
            Flavor::Hydra
        } else {
            Flavor::Unknown
        }
    }

    /// The flags that go before `-np`: Open MPI may start more ranks than
    /// cores, and leaves them unbound so oversubscribed ranks can move.
    pub fn flags(self) -> &'static [&'static str] {
        match self {
            Flavor::OpenMpi => &["--oversubscribe", "--bind-to", "none"],
            Flavor::Hydra | Flavor::Unknown => &[],
        }
    }

    /// Variables the launcher needs: Open MPI refuses to start as root
    /// without these two (they do nothing otherwise).
    pub fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Flavor::OpenMpi => &[
                ("OMPI_ALLOW_RUN_AS_ROOT", "1"),
                ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
            ],
            Flavor::Hydra | Flavor::Unknown => &[],
        }
    }
}

/// A launcher program and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launcher {
    pub program: OsString,
    pub flavor: Flavor,
}

impl Launcher {
    /// The launcher [`LAUNCHER_ENV`] names, or `mpirun`.
    pub fn from_env() -> Launcher {
        let program = std::env::var_os(LAUNCHER_ENV)
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "mpirun".into());
        Launcher::detect(program)
    }

    /// [`Launcher::from_env`], asked once per process and kept: every job
    /// of a test run or a benchmark uses the same launcher.
    pub fn global() -> &'static Launcher {
        static LAUNCHER: OnceLock<Launcher> = OnceLock::new();
        LAUNCHER.get_or_init(Launcher::from_env)
    }

    /// Asks `program --version` what it is.
    pub fn detect(program: impl Into<OsString>) -> Launcher {
        let program = program.into();
        let flavor = version(&program).map_or(Flavor::Unknown, |text| Flavor::from_version(&text));
        Launcher { program, flavor }
    }

    /// `PROGRAM FLAGS... -np NP`, with the variables the launcher needs;
    /// the caller adds the program to run and its arguments.
    pub fn command(&self, np: u32) -> Command {
        let mut command = Command::new(&self.program);
        command
            .envs(self.flavor.env().iter().copied())
            .args(self.flavor.flags())
            .arg("-np")
            .arg(np.to_string());
        command
    }

    /// One line naming the launcher's MPI and version, for reports: Open
    /// MPI's first line of `--version`; Hydra's first line is a heading, so
    /// its `Version:` line instead.
    pub fn version_line(&self) -> Option<String> {
        version_line(&version(&self.program)?)
    }
}

fn version_line(text: &str) -> Option<String> {
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    if Flavor::from_version(text) == Flavor::Hydra {
        let version = lines.find_map(|line| line.strip_prefix("Version:"))?;
        return Some(format!("HYDRA (MPICH) {}", version.trim()));
    }
    lines.next().map(str::to_string)
}

/// What `program --version` prints (stdout and stderr), if it runs at all.
fn version(program: &OsStr) -> Option<String> {
    let output = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_open_mpi_from_hydra() {
        let open_mpi =
            "mpirun (Open MPI) 4.1.4\n\nReport bugs to http://www.open-mpi.org/community/help/\n";
        assert_eq!(Flavor::from_version(open_mpi), Flavor::OpenMpi);
        let hydra = "HYDRA build details:\n    Version:                                 4.0.2\n";
        assert_eq!(Flavor::from_version(hydra), Flavor::Hydra);
        assert_eq!(
            Flavor::from_version("srun: unknown option"),
            Flavor::Unknown
        );
    }

    #[test]
    fn only_open_mpi_gets_its_flags() {
        let args = |flavor| {
            let launcher = Launcher {
                program: "mpirun".into(),
                flavor,
            };
            let command = launcher.command(4);
            let args: Vec<String> = command
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            (args, command.get_envs().count())
        };
        assert_eq!(
            args(Flavor::OpenMpi),
            (
                vec!["--oversubscribe", "--bind-to", "none", "-np", "4"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
                2
            )
        );
        assert_eq!(args(Flavor::Hydra), (vec!["-np".into(), "4".into()], 0));
    }

    #[test]
    fn a_missing_launcher_is_unknown() {
        let launcher = Launcher::detect("/nonexistent/mpirun");
        assert_eq!(launcher.flavor, Flavor::Unknown);
        assert_eq!(launcher.version_line(), None);
    }
}
