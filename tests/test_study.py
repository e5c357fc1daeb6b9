"""The study's vocabulary: modality spellings, path templates, and the validating manifest and registry readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from wbrad import study
from wbrad.cli import main

HEADER = ("patient_id,age,sex,height_cm,weight_kg,ecog,ldh,braf,therapy,therapy_start,os_days,os_event,pfs_days,"
          "pfs_event")
REGISTRY = HEADER + """
P1,61,M,180,80,0,210,mutant,anti-PD1,2020-01-01,400,1,200,1
P2,55,X,165,,1,350,wildtype,ipi+nivo,2020-02-01,300,0,100,1
P3,70,F,,,7,500,wildtype,anti-PD1,2020-03-01,-5,1,60,1
"""
MANIFEST = """patient_id\ttimepoint\tscan_date\tmodality\timage\tlesions
P1\tbaseline\t2019-12-20\tCT\tP1/ct.nii.gz\tP1/lesions.nii.gz
P1\tbaseline\t2019-12-20\tPT\tP1/pet.nii.gz\t
"""


SPELLINGS = [("CT", "CT", "ct"), ("ct", "CT", "ct"), ("PT", "PT", "pet"), ("pet", "PT", "pet"), ("PET", "PT", "pet"),
             ("pt", "PT", "pet")]


@pytest.mark.parametrize("spelling, canonical, word", SPELLINGS)
def test_every_spelling_maps_to_one_modality_and_one_file_word(spelling, canonical, word):
    assert study.modality(spelling) == canonical and study.file_modality(spelling) == word


def test_an_unknown_modality_is_an_error_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown modality 'MR'; known: CT, PT"):
        study.modality("MR")


def test_templates_fill_in_and_move_under_another_results_folder(tmp_path: Path):
    table = study.path(study.LESION_TABLE, patient="P1", timepoint="bl", modality="pet")
    assert table == "results/P1/bl/lesions_pet.tsv"
    assert study.result(tmp_path, study.BODYCOMP, patient="P1", timepoint="bl") == tmp_path / "P1/bl/bodycomp.tsv"
    assert study.model_file("km") == "results/models/{endpoint}/km.png"
    assert set(study.model_paths(tmp_path, binary=True)) == set(study.BINARY_OUTPUTS)


def test_timepoint_names_come_from_the_config():
    assert study.Timepoints.from_config({"timepoints": {"baseline": "bl"}}) == study.Timepoints("bl", "fu1")
    assert study.Timepoints.from_config({}) == study.Timepoints("baseline", "fu1")


def test_the_registry_reader_reports_every_problem_with_its_csv_line_and_patient(tmp_path: Path):
    path = tmp_path / "registry.csv"
    path.write_text(REGISTRY)
    with pytest.raises(study.StudyError) as error:
        study.read_registry(path)
    message = str(error.value)
    assert message.startswith("3 problem(s) in the registry")
    assert f"{path} line 3 (patient P2): sex: 'X' is not one of ['M', 'F']" in message
    assert f"{path} line 4 (patient P3): ecog: 7 is greater than the maximum of 4" in message
    assert f"{path} line 4 (patient P3): os_days: -5 is less than the minimum of 0" in message


def test_the_manifest_reader_resolves_paths_from_its_folder_and_indexes_scans(tmp_path: Path):
    (tmp_path / "study").mkdir()
    path = tmp_path / "study" / "manifest.tsv"
    path.write_text(MANIFEST)
    manifest = study.read_manifest(path)
    ct = manifest.loc[("P1", "baseline", "CT")]
    assert ct.image == str(tmp_path / "study/P1/ct.nii.gz") and ct.segmentation == ""
    assert manifest.loc[("P1", "baseline", "PT")].lesions == ""
    assert list(study.read_manifest_sheet(path).image) == ["P1/ct.nii.gz", "P1/pet.nii.gz"]


def test_the_manifest_reader_names_a_bad_modality_and_a_duplicated_scan(tmp_path: Path):
    path = tmp_path / "manifest.tsv"
    path.write_text(MANIFEST.replace("\tPT\t", "\tMR\t"))
    with pytest.raises(study.StudyError, match=r"line 3 \(patient P1\): modality: 'MR' is not one of \['CT', 'PT'\]"):
        study.read_manifest(path)
    path.write_text(MANIFEST.replace("\tPT\t", "\tCT\t"))
    with pytest.raises(study.StudyError, match=r"more than one scan for \[\['P1', 'baseline', 'CT'\]\]"):
        study.read_manifest(path)


def test_wbrad_prints_a_study_problem_as_one_message_without_a_traceback(tmp_path: Path, capsys):
    (tmp_path / "registry.csv").write_text(REGISTRY)
    (tmp_path / "manifest.tsv").write_text(MANIFEST)
    (tmp_path / "export").mkdir()
    code = main(["discover", str(tmp_path / "export"), "--registry", str(tmp_path / "registry.csv"), "--manifest",
                 str(tmp_path / "manifest.tsv"), "--link-table", str(tmp_path / "links.csv")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("wbrad discover: 3 problem(s) in the registry") and "Traceback" not in err


GERMAN = ("\ufeffpatient_id;age;sex;height_cm;weight_kg;ecog;ldh;therapy_start;os_days;os_event;pfs_days;pfs_event\n"
          "P1;61;M;180,5;80,2;0;210,5;01.02.2020;400;1;200;1\n"
          "P2;55;F;165;;1;350;15.03.2020;300;0;100;1\n")
GERMAN_FORMAT = {"sep": ";", "decimal": ",", "dates": "%d.%m.%Y"}


def test_a_german_excel_registry_reads_with_its_format(tmp_path: Path):
    path = tmp_path / "registry.csv"
    path.write_text(GERMAN, encoding="utf-8")
    registry = study.read_registry(path, fmt=GERMAN_FORMAT)
    assert registry.loc["P1", "height_cm"] == 180.5 and registry.loc["P1", "ldh"] == 210.5
    assert list(registry["therapy_start"]) == ["2020-02-01", "2020-03-15"]
    assert list(registry.columns[:2]) == ["patient_id", "age"]  # the byte-order mark is not part of the name


def test_a_german_excel_registry_without_its_format_is_a_message_naming_the_separator(tmp_path: Path):
    path = tmp_path / "registry.csv"
    path.write_text(GERMAN, encoding="utf-8")
    expected = r"the header looks semicolon-separated: set registry_format: \{sep: ';'\}"
    with pytest.raises(study.StudyError, match=expected):
        study.read_registry(path)


def test_a_latin1_registry_reads_with_its_encoding_and_is_a_clear_message_without(tmp_path: Path):
    path = tmp_path / "registry.csv"
    path.write_bytes(REGISTRY.replace("anti-PD1", "anti-PD1 (Müller)").replace(",X,", ",M,").replace(",7,", ",2,")
                     .replace(",-5,", ",5,").encode("latin-1"))
    with pytest.raises(study.StudyError, match=r"is not utf-8 text; .* registry_format: \{encoding: latin-1\}"):
        study.read_registry(path)
    registry = study.read_registry(path, fmt={"encoding": "latin-1"})
    assert registry.loc["P1", "therapy"] == "anti-PD1 (Müller)"


def test_a_date_in_another_format_than_configured_is_reported_with_its_line(tmp_path: Path):
    path = tmp_path / "registry.csv"
    path.write_text(GERMAN.replace("15.03.2020", "2020-03-15"), encoding="utf-8")
    expected = r"line 3 \(patient P2\): therapy_start: '2020-03-15' is not a date in the format %d.%m.%Y"
    with pytest.raises(study.StudyError, match=expected):
        study.read_registry(path, fmt=GERMAN_FORMAT)
