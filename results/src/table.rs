//! A column-oriented table written as Arrow IPC (`.arrow`) and CSV (`.csv`) from the same data, so
//! the two files always hold the same rows.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow_ipc::writer::FileWriter;
use arrow_schema::{DataType, Field, Schema};

use crate::{write_atomic, ResultsError};

/// One column's values. Floats are nullable: a missing value (a control that was not run, the
/// spread of a single replicate) is null in Arrow and an empty field in CSV.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Str(Vec<String>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    F64(Vec<Option<f64>>),
    Bool(Vec<bool>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Column::Str(v) => v.len(),
            Column::U32(v) => v.len(),
            Column::U64(v) => v.len(),
            Column::F64(v) => v.len(),
            Column::Bool(v) => v.len(),
        }
    }

    fn field(&self, name: &str) -> Field {
        match self {
            Column::Str(_) => Field::new(name, DataType::Utf8, false),
            Column::U32(_) => Field::new(name, DataType::UInt32, false),
            Column::U64(_) => Field::new(name, DataType::UInt64, false),
            Column::F64(_) => Field::new(name, DataType::Float64, true),
            Column::Bool(_) => Field::new(name, DataType::Boolean, false),
        }
    }

    fn array(&self) -> ArrayRef {
        match self {
            Column::Str(v) => Arc::new(StringArray::from_iter_values(v)),
            Column::U32(v) => Arc::new(UInt32Array::from(v.clone())),
            Column::U64(v) => Arc::new(UInt64Array::from(v.clone())),
            Column::F64(v) => Arc::new(Float64Array::from(v.clone())),
            Column::Bool(v) => Arc::new(BooleanArray::from(v.clone())),
        }
    }

    /// The CSV text of row `i`. Floats use Rust's shortest round-trip form, so parsing the CSV
    /// gives back exactly the Arrow value.
    fn cell(&self, i: usize) -> String {
        match self {
            Column::Str(v) => v[i].clone(),
            Column::U32(v) => v[i].to_string(),
            Column::U64(v) => v[i].to_string(),
            Column::F64(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            Column::Bool(v) => v[i].to_string(),
        }
    }
}

/// Named columns of equal length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    columns: Vec<(String, Column)>,
}

impl Table {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a column. Panics if its length differs from the columns already present: that is a
    /// bug in the code building the table, not bad input.
    pub fn with(mut self, name: &str, column: Column) -> Self {
        if let Some((_, first)) = self.columns.first() {
            assert_eq!(first.len(), column.len(), "column {name} has a different length");
        }
        self.columns.push((name.to_string(), column));
        self
    }

    /// Adds `other`'s columns after these (same rule on lengths as [`Table::with`]).
    pub fn then(self, other: Table) -> Self {
        other.columns.into_iter().fold(self, |table, (name, column)| table.with(&name, column))
    }

    pub fn num_rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, c)| c.len())
    }

    /// The column names, in order.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(n, _)| n.as_str())
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    fn record_batch(&self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let fields: Vec<Field> = self.columns.iter().map(|(n, c)| c.field(n)).collect();
        let arrays: Vec<ArrayRef> = self.columns.iter().map(|(_, c)| c.array()).collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
    }

    /// Writes `{dir}/{stem}.arrow` (Arrow IPC file format, readable by `pyarrow.ipc.open_file`)
    /// and `{dir}/{stem}.csv`, each atomically; a file that already holds the same bytes is left
    /// alone, so bringing a folder's tables up to date touches only those that were not.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<(), ResultsError> {
        let arrow_path = dir.join(format!("{stem}.arrow"));
        let arrow_err = |source| ResultsError::Arrow { path: arrow_path.clone(), source };
        let batch = self.record_batch().map_err(arrow_err)?;
        let mut arrow = vec![];
        {
            let mut writer = FileWriter::try_new(&mut arrow, &batch.schema()).map_err(arrow_err)?;
            writer.write(&batch).map_err(arrow_err)?;
            writer.finish().map_err(arrow_err)?;
        }

        let csv_path = dir.join(format!("{stem}.csv"));
        let csv_err = |source| ResultsError::Csv { path: csv_path.clone(), source };
        let mut csv = vec![];
        {
            let mut writer = csv::Writer::from_writer(&mut csv);
            writer.write_record(self.columns.iter().map(|(n, _)| n)).map_err(csv_err)?;
            for i in 0..self.num_rows() {
                writer.write_record(self.columns.iter().map(|(_, c)| c.cell(i))).map_err(csv_err)?;
            }
            writer.flush().map_err(|source| ResultsError::Io { path: csv_path.clone(), source })?;
        }
        for (path, bytes) in [(&arrow_path, &arrow), (&csv_path, &csv)] {
            if std::fs::read(path).ok().as_ref() != Some(bytes) {
                write_atomic(path, bytes)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_ipc::reader::FileReader;

    #[test]
    fn arrow_and_csv_hold_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let table = Table::new()
            .with("name", Column::Str(vec!["a".into(), "b,c".into()]))
            .with("level", Column::U32(vec![0, 7]))
            .with("step", Column::U64(vec![1, u64::MAX]))
            .with("value", Column::F64(vec![Some(0.1 + 0.2), None]));
        table.write(dir.path(), "t").unwrap();

        let reader = FileReader::try_new(std::fs::File::open(dir.path().join("t.arrow")).unwrap(), None).unwrap();
        let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
        assert_eq!(batches.len(), 1);
        let values = batches[0].column(3).as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(values.value(0), 0.1 + 0.2);
        assert!(values.is_null(1));

        let mut csv = csv::Reader::from_path(dir.path().join("t.csv")).unwrap();
        let rows: Vec<csv::StringRecord> = csv.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][1], "0");
        assert_eq!(&rows[1][0], "b,c");
        assert_eq!(rows[0][3].parse::<f64>().unwrap(), 0.1 + 0.2);
        assert_eq!(&rows[1][3], "");
    }
}
