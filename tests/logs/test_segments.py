"""SMS encoding and segment counts: what a carrier bills for a text."""

import random

import pytest

from logs.segments import GSM7_BASIC, GSM7_EXTENSION, SmsInfo, is_gsm7, sms_info

CYRILLIC = "ж"  # outside GSM-7, inside the BMP: one UTF-16 unit
EMOJI = "😀"  # outside the BMP: a surrogate pair, two UTF-16 units


def test_empty_text_is_zero_segments():
    assert sms_info("") == SmsInfo(encoding="GSM-7", characters=0, segments=0, units=0)


def test_short_gsm_text():
    assert sms_info("Hello, world!") == SmsInfo("GSM-7", 13, 1, 13)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm_boundaries(length, segments):
    info = sms_info("a" * length)
    assert (info.encoding, info.characters, info.units, info.segments) == ("GSM-7", length, length, segments)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_boundaries(length, segments):
    info = sms_info(CYRILLIC * length)
    assert (info.encoding, info.characters, info.units, info.segments) == ("UCS-2", length, length, segments)


def test_one_non_gsm_character_makes_the_whole_text_ucs2():
    text = "a" * 69 + CYRILLIC
    assert sms_info(text) == SmsInfo("UCS-2", 70, 1, 70)
    assert sms_info("a" * 70 + CYRILLIC).segments == 2


@pytest.mark.parametrize("ch", "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r")
def test_gsm_basic_accented_and_greek_characters_are_one_septet(ch):
    assert sms_info(ch * 160) == SmsInfo("GSM-7", 160, 1, 160)


# Curly quotes, em dash and no-break space arrive from phones' autocorrect and word processors.
NOT_GSM = ["ç", "á", "í", "ó", "ú", "ê", "`", "\t", "\x1b", "\u2019", "\u201c", "\u2014", "\u00a0"]


@pytest.mark.parametrize("ch", NOT_GSM)
def test_lookalikes_outside_gsm_are_ucs2(ch):
    assert not is_gsm7(ch)
    assert sms_info(f"Hi {ch}").encoding == "UCS-2"


@pytest.mark.parametrize("ch", "^{}\\[~]|€\f")
def test_extension_characters_are_two_septets(ch):
    assert sms_info(ch) == SmsInfo("GSM-7", 1, 1, 2)
    assert sms_info(ch * 80) == SmsInfo("GSM-7", 80, 1, 160)
    assert sms_info(ch * 80 + "a") == SmsInfo("GSM-7", 81, 2, 161)


def test_extension_character_at_the_single_segment_limit():
    assert sms_info("a" * 158 + "€").segments == 1  # 160 septets
    assert sms_info("a" * 159 + "€").segments == 2  # 161 septets


def test_extension_character_is_not_split_across_segments():
    # 152 + 2 + 152 = 306 septets would fill two segments exactly, but the € cannot
    # straddle the boundary: it moves to the second segment, pushing one "a" to a third.
    text = "a" * 152 + "€" + "a" * 152
    assert sms_info(text) == SmsInfo("GSM-7", 305, 3, 306)


def test_extension_character_ending_a_segment_exactly_fits():
    text = "a" * 151 + "€" + "a" * 153
    assert sms_info(text) == SmsInfo("GSM-7", 305, 2, 306)


def test_emoji_is_two_units_and_ucs2():
    assert sms_info(EMOJI) == SmsInfo("UCS-2", 1, 1, 2)
    assert sms_info(EMOJI * 35) == SmsInfo("UCS-2", 35, 1, 70)
    assert sms_info(EMOJI * 36) == SmsInfo("UCS-2", 36, 2, 72)


def test_emoji_is_not_split_across_segments():
    # 66 + 2 + 66 = 134 units would fill two segments exactly; the pair moves whole.
    text = "a" * 66 + EMOJI + "a" * 66
    assert sms_info(text) == SmsInfo("UCS-2", 133, 3, 134)
    assert sms_info("a" * 65 + EMOJI + "a" * 67) == SmsInfo("UCS-2", 133, 2, 134)


def test_emoji_only_segments_hold_33_emoji():
    # 67 units per segment fit 33 pairs; the 67th unit goes unused.
    assert sms_info(EMOJI * 66).segments == 2
    assert sms_info(EMOJI * 67).segments == 3


def test_extension_characters_are_one_unit_in_ucs2():
    assert sms_info("€" * 69 + CYRILLIC) == SmsInfo("UCS-2", 70, 1, 70)


def test_multi_code_point_emoji_count_each_code_point():
    thumbs_up_dark = "👍🏿"  # emoji + skin tone modifier
    assert sms_info(thumbs_up_dark) == SmsInfo("UCS-2", 2, 1, 4)


def test_gsm_tables_do_not_overlap():
    assert not GSM7_BASIC & GSM7_EXTENSION
    assert len(GSM7_BASIC) == 127  # 128 positions less the escape
    assert len(GSM7_EXTENSION) == 10


def _segments_by_packing(text):
    """Reference: fill segments character by character, as a carrier's encoder does."""
    gsm = is_gsm7(text)
    widths = [2 if (ch in GSM7_EXTENSION if gsm else ord(ch) > 0xFFFF) else 1 for ch in text]
    single, multi = (160, 153) if gsm else (70, 67)
    if sum(widths) <= single:
        return 1 if widths else 0
    segments, used = 1, 0
    for width in widths:
        if used + width > multi:
            segments, used = segments + 1, 0
        used += width
    return segments


@pytest.mark.parametrize("alphabet", ["a€", "a€€€", "ж😀", "😀", "aaa{", "ab"])
def test_segment_count_matches_packing_for_random_texts(alphabet):
    rng = random.Random(alphabet)
    for _ in range(300):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 500)))
        assert sms_info(text).segments == _segments_by_packing(text), text
