-- Register columns named after the series they hold (REGISTER_SERIES order), register names instead of
-- numbers in the side tables, and no bitmask: an entity's registers are its rows in `series`.
ALTER TABLE readings RENAME COLUMN r0 TO positive_t1;
ALTER TABLE readings RENAME COLUMN r1 TO positive_t2;
ALTER TABLE readings RENAME COLUMN r2 TO positive_t3;
ALTER TABLE readings RENAME COLUMN r3 TO positive_t4;
ALTER TABLE readings RENAME COLUMN r4 TO positive_total;
ALTER TABLE readings RENAME COLUMN r5 TO negative_t1;
ALTER TABLE readings RENAME COLUMN r6 TO negative_t2;
ALTER TABLE readings RENAME COLUMN r7 TO negative_t3;
ALTER TABLE readings RENAME COLUMN r8 TO negative_t4;
ALTER TABLE readings RENAME COLUMN r9 TO negative_total;
ALTER TABLE readings RENAME COLUMN r10 TO positive_gas;
ALTER TABLE readings RENAME COLUMN r11 TO negative_gas;

ALTER TABLE resets RENAME COLUMN reg TO register;
ALTER TABLE resets ALTER COLUMN register TYPE text USING (ARRAY[
    'positive_t1', 'positive_t2', 'positive_t3', 'positive_t4', 'positive_total',
    'negative_t1', 'negative_t2', 'negative_t3', 'negative_t4', 'negative_total', 'positive_gas', 'negative_gas'
])[register + 1];

ALTER TABLE series RENAME COLUMN reg TO register;
ALTER TABLE series ALTER COLUMN register TYPE text USING (ARRAY[
    'positive_t1', 'positive_t2', 'positive_t3', 'positive_t4', 'positive_total',
    'negative_t1', 'negative_t2', 'negative_t3', 'negative_t4', 'negative_total', 'positive_gas', 'negative_gas'
])[register + 1];

ALTER TABLE entities DROP COLUMN register_mask;
