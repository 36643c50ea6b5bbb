"""Seeded synthetic BIDS dataset of sagittal spinal MRI with intramedullary tumours.

No spinal tumour data set is public, so the pipeline ships a generator that
writes a small but realistic one. Each subject has:

* a sagittal T2-weighted image and a gadolinium-enhanced T1-weighted image, each
  on its own anisotropic grid (thin in-plane pixels, thick R-L slices), with
  per-subject matrix, field of view and header orientation (array axis order and
  flips vary; the affine says where every voxel is, so the world-space anatomy is
  the same whatever the storage);
* labels on the T2w grid: a ``dseg`` map (1 tumour core, 2 edema, 3 cavity), a
  binary spinal cord mask and a one-voxel-per-slice-position cord centreline.

The anatomy is analytic, in world millimetres (RAS+): a curved cord with an
elliptical cross-section inside a CSF-filled dural sac, epidural fat, a bony
canal, vertebral bodies (cortical rim, marrow) and discs (bright nucleus),
posterior elements and ligaments, muscle, subcutaneous fat, air, an airway in
the neck and lungs and aorta in the chest. Tumours (astrocytoma, ependymoma,
hemangioblastoma), edema and cavities (syrinx or tumour cyst) are irregular
ellipsoids in a frame that follows the cord, always clipped to the cord.

Acquisition effects (:mod:`spinetumor.demo.acquisition`): partial volume, a
smooth multiplicative bias field, Rician noise, a per-scanner intensity scale,
and int16 or float32 storage. The T1w anatomy is rigidly moved with respect to
the T2w anatomy while its header knows nothing of it (see
:class:`spinetumor.demo.grid.Misalignment` for the exact convention), so that
registration is needed and its result can be checked.

Everything about subject ``i`` is drawn from ``np.random.default_rng([seed, i])``;
a subject is therefore the same whatever the number of subjects, and the same
seed gives byte-identical arrays.

Modules: ``params`` and ``grid`` (parameter records), ``sampling`` and
``lesion_sampling`` (drawing them), ``tissues``, ``levels``, ``shapes``,
``anatomy``, ``body``, ``vertebrae`` and ``canal`` (the analytic anatomy),
``acquisition`` (images and labels on the grids), ``dataset`` (BIDS file
contents), ``jobs`` (writing; what the scripts call) and ``cli``.

Command line::

    PYTHONPATH=workflow/scripts python -m spinetumor.demo OUT_DIR --n-subjects 6 --seed 0
"""
