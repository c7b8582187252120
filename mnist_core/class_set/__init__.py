"""The class's own handwriting: digits students drew on Draw, kept with their true labels (samples), written and
read as MNIST's own IDX files (idx_files), a run measured on them (meeting) and a run trained further on them
(fine_tune)."""
