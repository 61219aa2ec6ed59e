//! `--emit k8s`: a Kubernetes Indexed Job (`completionMode: Indexed`), one pod per unit, each
//! running `harness sweep run-unit MANIFEST $JOB_COMPLETION_INDEX` in the sweep's image with the
//! results folder's volume mounted at the same path. A pod evicted or preempted gets SIGTERM,
//! checkpoints and is recreated without counting as a failure (the `DisruptionTarget` rule).

use crate::manifest::Manifest;
use crate::spec::SweepFile;

pub const MANIFEST_FILE: &str = "sweep.k8s.yaml";
/// Seconds a pod has between SIGTERM and SIGKILL: enough to finish a step and checkpoint.
const GRACE_SECONDS: u32 = 120;

/// What an Indexed Job needs that a sweep file may lack.
#[derive(Debug, thiserror::Error)]
#[error("--emit k8s needs [k8s] {0} in the sweep file ({1})")]
pub struct Missing(pub &'static str, pub &'static str);

/// A YAML double-quoted scalar (JSON's escaping is valid YAML).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// A Kubernetes name: lowercase letters, digits and '-'.
fn k8s_name(name: &str) -> String {
    let name: String = name.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    format!("lottery-{}", name.trim_matches('-'))
}

pub fn job(sweep: &SweepFile, manifest: &Manifest, data_dir: &std::path::Path) -> Result<String, Missing> {
    let image = sweep.k8s.image.as_deref().ok_or(Missing("image", "a container image with harness on its PATH"))?;
    let claim = sweep.k8s.claim.as_deref().ok_or(Missing("claim", "the PersistentVolumeClaim that holds the results folder"))?;
    let results = manifest.results.display().to_string();
    let count = manifest.units.len();
    let harness = sweep.k8s.harness.as_deref().unwrap_or("harness");
    let mut out = String::new();
    out.push_str(&format!("# Written by `harness sweep {} --emit k8s`: {count} units, one pod each.\n", sweep.path.display()));
    out.push_str("# Apply with `kubectl apply -f` this file; follow with `harness sweep status` on the results folder.\n");
    out.push_str("apiVersion: batch/v1\nkind: Job\nmetadata:\n");
    out.push_str(&format!("  name: {}\n", quoted(&k8s_name(&sweep.name))));
    if let Some(ns) = &sweep.k8s.namespace {
        out.push_str(&format!("  namespace: {}\n", quoted(ns)));
    }
    out.push_str("spec:\n  completionMode: Indexed\n");
    out.push_str(&format!("  completions: {count}\n  parallelism: {}\n", sweep.k8s.parallel.unwrap_or(count as u32)));
    out.push_str("  backoffLimitPerIndex: 3\n  podFailurePolicy:\n    rules:\n");
    out.push_str("      # Evicted or preempted: retried without counting against the backoff limit.\n");
    out.push_str("      - action: Ignore\n        onPodConditions:\n          - type: DisruptionTarget\n");
    out.push_str("  template:\n    spec:\n      restartPolicy: Never\n");
    out.push_str(&format!("      terminationGracePeriodSeconds: {GRACE_SECONDS}\n"));
    out.push_str("      containers:\n        - name: harness\n");
    out.push_str(&format!("          image: {}\n", quoted(image)));
    let command = [harness, "sweep", "run-unit", &manifest.path().display().to_string(), "$(JOB_COMPLETION_INDEX)"];
    out.push_str(&format!("          command: [{}]\n", command.iter().map(|c| quoted(c)).collect::<Vec<_>>().join(", ")));
    out.push_str("          env:\n            - name: JOB_COMPLETION_INDEX\n              valueFrom:\n                fieldRef:\n");
    out.push_str("                  fieldPath: metadata.annotations['batch.kubernetes.io/job-completion-index']\n");
    out.push_str("          resources:\n            requests:\n");
    out.push_str(&format!("              cpu: {}\n", quoted(&sweep.cpus().to_string())));
    if let Some(memory) = &sweep.resources.memory {
        out.push_str(&format!("              memory: {}\n", quoted(memory)));
    }
    if sweep.gpus() > 0 {
        out.push_str(&format!("            limits:\n              nvidia.com/gpu: {}\n", sweep.gpus()));
    }
    out.push_str("          volumeMounts:\n");
    out.push_str(&format!("            - name: results\n              mountPath: {}\n", quoted(&results)));
    if sweep.k8s.data_claim.is_some() {
        out.push_str(&format!("            - name: data\n              mountPath: {}\n              readOnly: true\n", quoted(&data_dir.display().to_string())));
    }
    out.push_str("      volumes:\n");
    out.push_str(&format!("        - name: results\n          persistentVolumeClaim:\n            claimName: {}\n", quoted(claim)));
    if let Some(data) = &sweep.k8s.data_claim {
        out.push_str(&format!("        - name: data\n          persistentVolumeClaim:\n            claimName: {}\n", quoted(data)));
    }
    Ok(out)
}
