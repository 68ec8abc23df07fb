//! What the Docker benchmarks share: their arguments, the fixture instance image `cargo test`
//! builds, and a one-file pytest environment for validation runs on it.

use swegym_build::docker::Engine;
use swegym_build::recipe::{EnvSpec, PythonVersion, TestSelection, VersionRange};
use swegym_build::validate::script::Selection;

/// The value after `name` on the command line.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// `--image TAG`, else a fixture instance image (`swegym/eval.acme__*`) in `engine`; exits with a
/// message naming the fix when there is none.
pub async fn fixture_image(engine: &Engine, bench: &str) -> String {
    if let Some(i) = arg("--image") {
        return i;
    }
    let mut found = engine.images_with_label("swegym.instance_id").await.unwrap_or_default();
    found.retain(|i| i.tags.iter().any(|t| t.starts_with("swegym/eval.acme__")));
    match found.first().and_then(|i| i.tags.first()) {
        Some(t) => t.clone(),
        None => {
            eprintln!(
                "{bench} bench: no swegym/eval.acme__* image in the engine; run `cargo test` first \
                 (its Docker tests build them) or pass --image TAG"
            );
            std::process::exit(1);
        }
    }
}

/// pytest on the one test file `tests/test_bench.py` (which the benches' test patches add).
pub fn pytest_on_bench_file() -> (EnvSpec, Selection) {
    let spec = EnvSpec {
        versions: VersionRange::any(),
        python: PythonVersion(3, 11),
        system_packages: vec![],
        pre_install: vec![],
        install: vec![],
        packages: vec![],
        instance_install: vec![],
        test_cmd: "pytest -rA -p no:cacheprovider".into(),
        test_selection: TestSelection::Files,
        env_vars: Default::default(),
    };
    (spec, Selection { args: vec!["tests/test_bench.py".into()], what: "1 file".into() })
}
