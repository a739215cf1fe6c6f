-- appenv:allow drop-table the export job that read it was removed in release 52
DROP TABLE legacy_exports;
