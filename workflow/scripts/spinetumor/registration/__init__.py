"""T1w onto T2w registration (SimpleITK), its failure checks and QC."""
