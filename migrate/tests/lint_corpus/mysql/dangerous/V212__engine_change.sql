-- expect: engine-change
ALTER TABLE legacy_log ENGINE = InnoDB;
