//! `harness data fetch` against an HTTP server on loopback: files are verified by SHA-256, a
//! corrupt download never lands in the data folder, and verified files are not fetched again.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::*;

/// Serves `files` (name -> bytes) on 127.0.0.1 until the test ends; counts requests per path.
fn serve(files: BTreeMap<String, Vec<u8>>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(vec![]));
    let log = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
            log.lock().unwrap().push(path.clone());
            let response = match files.get(&path) {
                Some(body) => {
                    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
                    r.extend_from_slice(body);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            };
            let _ = stream.write_all(&response);
        }
    });
    (base, requests)
}

#[test]
fn fetch_verifies_checksums_and_keeps_only_verified_files() {
    let mnist = shared_data().join("mnist");
    let mut files = BTreeMap::new();
    for name in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        files.insert(name.to_string(), std::fs::read(mnist.join(name)).unwrap());
    }
    // The train images are served corrupt; the train labels are missing (404).
    files.insert("train-images-idx3-ubyte.gz".to_string(), b"not the MNIST training images".to_vec());
    let (base, requests) = serve(files);
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();

    let out = harness().args(["data", "fetch", "mnist", "--data-dir", data_dir, "--mirror", &base]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("checksum mismatch") && stderr.contains("train-images-idx3-ubyte.gz"), "{stderr}");
    assert!(stderr.contains("delete it and run `harness data fetch mnist`"), "{stderr}");

    let dir = data.path().join("mnist");
    let mut present: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    present.sort();
    assert_eq!(present, vec!["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"], "no corrupt or partial file lands");
    for name in &present {
        assert_eq!(std::fs::read(dir.join(name)).unwrap(), std::fs::read(mnist.join(name)).unwrap());
    }

    // A second fetch verifies the files it has and asks only for the missing ones.
    requests.lock().unwrap().clear();
    let out = harness().args(["data", "fetch", "mnist", "--data-dir", data_dir, "--mirror", &base]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("download of") && stderr.contains("404") || stderr.contains("checksum mismatch"), "{stderr}");
    let mut asked = requests.lock().unwrap().clone();
    asked.sort();
    assert_eq!(asked, vec!["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]);
}

#[test]
fn fetch_of_an_unknown_dataset_lists_the_known_ones() {
    let data = tempfile::tempdir().unwrap();
    let out = harness().args(["data", "fetch", "imagenet", "--data-dir", data.path().to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("known datasets: mnist, fashion-mnist, cifar10"));
}

#[test]
fn fetched_ptb_is_verified_and_loads_for_the_lm_task() {
    let ptb = shared_data().join("ptb");
    let names = ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"];
    let files = names.iter().map(|n| (n.to_string(), std::fs::read(ptb.join(n)).unwrap())).collect();
    let (base, _) = serve(files);
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let out = run_ok(&["data", "fetch", "ptb", "--data-dir", data_dir, "--mirror", &base]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for name in names {
        assert!(stdout.contains(&format!("downloaded and verified {}", data.path().join("ptb").join(name).display())), "{stdout}");
    }
    let results = tempfile::tempdir().unwrap();
    run_ok(&["run", "lm/ptb-lstm", "--preset", "smoke", "--prune", "0.2", "--controls", "winning", "--quiet", "--data-dir", data_dir, "--out", results.path().to_str().unwrap()]);
    let levels: Vec<String> = csv_rows(&run_dir(results.path()).join("comparison.csv"))
        .into_iter()
        .filter(|r| r["metric"] == "test_perplexity")
        .map(|r| r["level"].clone())
        .collect();
    assert_eq!(levels, ["0", "1"]);
}

#[test]
fn fetched_multi30k_is_verified_file_by_file() {
    let src = shared_data().join("multi30k");
    let names = ["train.en.gz", "train.de.gz", "val.en.gz", "val.de.gz", "test_2016_flickr.en.gz", "test_2016_flickr.de.gz"];
    let files = names.iter().map(|n| (n.to_string(), std::fs::read(src.join(n)).unwrap())).collect();
    let (base, _) = serve(files);
    let data = tempfile::tempdir().unwrap();
    let out = run_ok(&["data", "fetch", "multi30k", "--data-dir", data.path().to_str().unwrap(), "--mirror", &base]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("downloaded and verified").count(), 6, "{stdout}");
    for name in names {
        assert_eq!(std::fs::read(data.path().join("multi30k").join(name)).unwrap(), std::fs::read(src.join(name)).unwrap());
    }
}
