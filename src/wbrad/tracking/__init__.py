"""Longitudinal lesion tracking without shared labels (issue 13): registration, lesion geometry, matching, tracks.

Import from the submodules (this package imports none of them: a register job needs neither pandas nor scipy). The
jobs of rules/track.smk are ``wbrad.tracking.register.register_followup`` (register) and
``wbrad.tracking.run.track_job`` (track, which draws the QC picture of ``wbrad.tracking.qc``):

1. ``t = register(baseline_ct, followup_ct)`` (``wbrad.tracking.register``): rigid on the body from several starts
   (isotropic coarse levels), refined on bone, optionally affine, with SimpleITK's registration framework. ITK
   convention: ``t`` maps a BASELINE point to the FOLLOW-UP point, so ``sitk.Resample(followup, baseline, t)``
   puts the follow-up on the baseline grid.
   ``save_transform(t, path)`` writes it (``.tfm``, atomically with its integrity record) beside the scan's results,
   ``load_transform(path)`` reads it back, and ``quality(baseline_ct, followup_ct, t)`` gives the QC numbers (bone and
   body Dice with and without the registration, Mattes mutual information).
2. ``to_baseline(followup_labels, baseline_labels, t)`` resamples a follow-up lesion map onto the baseline grid
   (nearest neighbour); ``lesion_table(labels)`` gives ``label, centroid_x_mm, centroid_y_mm, centroid_z_mm, voxels,
   volume_ml`` per lesion and ``lesions_of(labels)`` the same as :class:`Lesion` objects with their voxels.
3. ``match(tracks, lesions, baseline_labels, gates)`` matches one follow-up's lesions to the tracks' last known
   lesions (``Gates``: maximum centroid distance, minimum overlap of dilated masks, dilation, the overlap that makes
   a merge or a split); ``track_patient(baseline_labels, [(timepoint, (labels, t)), ...], gates)`` chains it over the
   follow-ups in date order into the long table ``track, timepoint, lesion, status, distance_mm, overlap`` (statuses
   ``baseline``, ``matched``, ``new``, ``disappeared``, ``merged``, ``split``; see ``track_patient``).
4. With shared labels (config ``lesions.labels: shared``), ``shared_labels_agreement(tracks)`` checks the
   registration tracks against the labels.

Methods: Huff et al., Phys Med Biol 2023 (registration-based lesion matching on whole-body PET/CT); RECIST 1.1
(Eisenhauer et al., Eur J Cancer 2009) for lesions that split (the fragments' diameters are summed) or coalesce (the
merged lesion's diameter counts for one of its lesions, 0 for the others).
"""
