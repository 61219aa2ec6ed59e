//! The task registry: every task the harness can run, looked up by `family/name`.

use crate::task::Task;
use crate::EngineError;

pub struct Registry {
    tasks: Vec<Box<dyn Task>>,
}

/// Edit distance, for suggesting the closest valid name.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// `choices` sorted by closeness to `given`.
pub fn closest_first<'a>(given: &str, choices: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = choices.into_iter().collect();
    v.sort_by_key(|c| (levenshtein(given, c), c.to_string()));
    v
}

impl Registry {
    pub fn empty() -> Self {
        Registry { tasks: vec![] }
    }

    /// Every task that ships with the harness.
    pub fn builtin() -> Self {
        let mut registry = Self::empty();
        crate::tasks::register_all(&mut registry);
        registry
    }

    /// Adds a task. Panics on a duplicate name: two tasks claiming one name is a build error.
    pub fn register(&mut self, task: Box<dyn Task>) {
        assert!(self.tasks.iter().all(|t| t.name() != task.name()), "task {} registered twice", task.name());
        self.tasks.push(task);
        self.tasks.sort_by_key(|t| t.name());
    }

    pub fn tasks(&self) -> impl Iterator<Item = &dyn Task> {
        self.tasks.iter().map(|t| t.as_ref())
    }

    pub fn get(&self, name: &str) -> Result<&dyn Task, EngineError> {
        self.tasks().find(|t| t.name() == name).ok_or_else(|| {
            EngineError::Usage(format!(
                "unknown task `{name}`; valid tasks (closest first): {}",
                closest_first(name, self.tasks().map(|t| t.name())).join(", ")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_and_order() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(closest_first("image/mnist-lenett", ["image/cifar10-conv2", "image/mnist-lenet"]), vec!["image/mnist-lenet", "image/cifar10-conv2"]);
    }
}
