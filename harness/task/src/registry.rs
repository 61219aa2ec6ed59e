//! The task registry: every task the harness can run, looked up by `family/name`.

use crate::task::Task;
use crate::TaskError;

pub struct Registry {
    tasks: Vec<Box<dyn Task>>,
}

/// `choices` sorted by closeness to `given`.
pub fn closest_first<'a>(given: &str, choices: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = choices.into_iter().collect();
    v.sort_by_key(|c| (strsim::levenshtein(given, c), c.to_string()));
    v
}

impl Registry {
    pub fn empty() -> Self {
        Registry { tasks: vec![] }
    }

    /// Adds a task. Panics on a duplicate name: two tasks claiming one name is a build error.
    pub fn register(&mut self, task: Box<dyn Task>) {
        assert!(self.tasks.iter().all(|t| t.name() != task.name()), "task {} registered twice", task.name());
        self.tasks.push(task);
        self.tasks.sort_by(|a, b| a.name().cmp(b.name()));
    }

    pub fn tasks(&self) -> impl Iterator<Item = &dyn Task> {
        self.tasks.iter().map(|t| t.as_ref())
    }

    pub fn get(&self, name: &str) -> Result<&dyn Task, TaskError> {
        self.tasks().find(|t| t.name() == name).ok_or_else(|| TaskError::UnknownTask {
            name: name.into(),
            choices: closest_first(name, self.tasks().map(|t| t.name())).into_iter().map(String::from).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_names_come_first() {
        assert_eq!(closest_first("image/mnist-lenett", ["image/cifar10-conv2", "image/mnist-lenet"]), vec!["image/mnist-lenet", "image/cifar10-conv2"]);
    }
}
