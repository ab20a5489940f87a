//! The repository itself: self-contained (nothing read from beside the clone).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(
                name.as_str(),
                "target" | ".git" | "data" | "corpus" | "crashes"
            ) {
                walk(&path, out);
            }
        } else if [".rs", ".sh", ".toml"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            out.push(path);
        }
    }
}

#[test]
fn nothing_reads_from_beside_the_repository() {
    // Spelled in pieces so this file does not match itself.
    let needles = [concat!("../", "shared"), concat!("shared/", "corpus")];
    let mut files = Vec::new();
    walk(&repo_root(), &mut files);
    assert!(files.len() > 20, "walked {} files", files.len());
    let offenders: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).ok()?;
            needles
                .iter()
                .any(|n| text.contains(n))
                .then(|| f.display().to_string())
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "files referring outside the repository: {offenders:#?}"
    );
    let corpus = repo_root().join("tests/data/monitor-v1.19");
    for f in [
        "README.md",
        "PROVENANCE.md",
        "cluster.json",
        "events.bin",
        "expected.jsonl",
    ] {
        assert!(corpus.join(f).is_file(), "vendored corpus lacks {f}");
    }
}
