//! `harness plot`, driven like a user: a run's ticket kinds against density and the training
//! curves of a level, as PNG and SVG, and two runs overlaid.

mod common;

use std::path::Path;

use common::*;

/// `<polyline>` elements of an SVG drawn in `color` (`#RRGGBB`): one per line, one per legend
/// sample.
fn polylines(svg: &str, color: &str) -> usize {
    svg.matches(&format!("<polyline fill=\"none\" opacity=\"1\" stroke=\"{color}\"")).count()
}

/// The figure's palette, in the order of the lines: winning, reinit, shuffle.
const KIND_COLORS: [&str; 3] = ["#1F77B4", "#FF7F0E", "#2CA02C"];

fn assert_png_drawn(path: &Path) {
    let img = image::open(path).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (900, 600), "{}", path.display());
    let colors: std::collections::BTreeSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(colors.len() > 20, "{} is blank ({} colors)", path.display(), colors.len());
}

#[test]
fn plot_draws_each_ticket_kind_against_density_and_the_training_curves_of_a_level() {
    let data = tempfile::tempdir().unwrap();
    let data = mnist_folder(data.path());
    let data = data.to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let common = ["--prune", "0.36", "--preset", "smoke", "--device", "cpu", "--quiet", "--data-dir", data, "--out", o];
    let mut args = vec!["run", "image/mnist-lenet", "--replicates", "2", "--controls", "reinit,shuffle"];
    args.extend(common);
    run_ok(&args);
    let run = run_dir(out.path());

    let stdout = String::from_utf8(run_ok(&["plot", run.to_str().unwrap()]).stdout).unwrap();
    let written: Vec<&str> = stdout.lines().collect();
    assert_eq!(written.len(), 2, "{stdout}");
    assert!(written[0].ends_with("figures/test_accuracy.png") && written[1].ends_with("figures/test_accuracy.svg"), "{stdout}");
    assert_png_drawn(Path::new(written[0]));
    let svg = std::fs::read_to_string(written[1]).unwrap();
    for (kind, color) in ["winning", "reinit", "shuffle"].iter().zip(KIND_COLORS) {
        assert_eq!(polylines(&svg, color), 2, "one line for {kind}, and its legend sample");
        assert!(svg.contains(&format!(">\n{kind}\n<")), "{kind} is labeled");
    }
    assert!(svg.contains("dense network (level 0)") && svg.contains("up to 2 replicate(s)"));
    let well_formed = "import sys, xml.etree.ElementTree as ET\nprint(ET.parse(sys.argv[1]).getroot().tag)";
    if let Some(root) = python(well_formed, &[Path::new(written[1])]) {
        assert_eq!(root.trim(), "{http://www.w3.org/2000/svg}svg");
    }

    // Training curves of level 1, and an explicit output file of each format.
    let curves = out.path().join("curves.svg");
    run_ok(&["plot", run.to_str().unwrap(), "--curves", "--level", "1", "--metric", "val_accuracy", "--out", curves.to_str().unwrap()]);
    let svg = std::fs::read_to_string(&curves).unwrap();
    assert!(KIND_COLORS.iter().all(|c| polylines(&svg, c) == 2) && svg.contains("level 1") && svg.contains("training iteration"));
    let png = out.path().join("loss.png");
    run_ok(&["plot", run.to_str().unwrap(), "--metric", "test_loss@val", "--out", png.to_str().unwrap()]);
    assert_png_drawn(&png);

    // Another seed overlaid: every line labeled with its run's settings.
    let mut args = vec!["run", "image/mnist-lenet", "--seed", "1", "--controls", "winning"];
    args.extend(common);
    let second = results_dir(&run_ok(&args).stdout);
    let compared = out.path().join("compared.svg");
    run_ok(&["plot", run.to_str().unwrap(), "--compare", second.to_str().unwrap(), "--out", compared.to_str().unwrap()]);
    let svg = std::fs::read_to_string(&compared).unwrap();
    assert!(svg.contains("image/mnist-lenet prune=0.36: shuffle") && svg.contains("image/mnist-lenet prune=0.36 seed=1: winning"), "labels name the runs");
    assert_eq!(polylines(&svg, "#D62728"), 2, "four lines: three kinds of the first run, winning of the second");

    let before = snapshot(out.path());
    refused(&["plot", run.to_str().unwrap(), "--metric", "bleu"], 2, &["no metric `bleu`", "test_accuracy@val"], out.path());
    refused(&["plot", run.to_str().unwrap(), "--out", "figure.jpg"], 2, &["--out figure.jpg", ".png or .svg"], out.path());
    refused(&["plot", run.to_str().unwrap(), "--curves", "--level", "9"], 2, &["no finished ticket at level 9"], out.path());
    refused(&["plot", data], 2, &["has no comparison.csv"], out.path());
    assert_eq!(snapshot(out.path()), before);
}
