"""P1 telegrams for the tests, written from the DSMR 5.0.2 and e-MUCS 1.7 field lists (values made up).

`telegram(header, lines)` frames the lines and appends their CRC. `python -m tests.p1_telegrams` rewrites the
files in tests/fixtures/p1 from the definitions below (they are committed; the tests read the files).
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "p1"


def crc16(data: bytes) -> int:
    """CRC-16/ARC (polynomial 0x8005 reflected = 0xA001, initial 0), as DSMR specifies for the telegram."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def telegram(header: str, lines: list[str], crc: int | None = None) -> bytes:
    """`/header`, a blank line, `lines`, then `!` and the CRC (computed unless given), all CRLF-ended."""
    body = ("/" + header + "\r\n\r\n" + "".join(line + "\r\n" for line in lines) + "!").encode("ascii")
    return body + b"%04X\r\n" % (crc16(body) if crc is None else crc)


# Belgian Fluvius e-MUCS 1.7, three phases, gas on channel 1 (24.2.3, temperature-corrected) and water on 2.
BELGIAN_LINES = [
    "0-0:96.1.4(50217)",
    "0-0:96.1.1(3153414733313034303234363331)",
    "0-0:1.0.0(240115184512W)",
    "1-0:1.8.1(004123.456*kWh)",
    "1-0:1.8.2(003210.987*kWh)",
    "1-0:2.8.1(000812.345*kWh)",
    "1-0:2.8.2(000298.765*kWh)",
    "0-0:96.14.0(0001)",
    "1-0:1.4.0(02.351*kW)",
    "1-0:1.6.0(240109183000W)(04.872*kW)",
    "0-0:98.1.0(2)(1-0:1.6.0)(1-0:1.6.0)(231201000000W)(231122174500W)(05.310*kW)"
    "(240101000000W)(231218181500W)(04.905*kW)",
    "1-0:1.7.0(01.873*kW)",
    "1-0:2.7.0(00.000*kW)",
    "1-0:21.7.0(00.412*kW)",
    "1-0:41.7.0(01.058*kW)",
    "1-0:61.7.0(00.403*kW)",
    "1-0:22.7.0(00.000*kW)",
    "1-0:42.7.0(00.000*kW)",
    "1-0:62.7.0(00.000*kW)",
    "1-0:32.7.0(231.4*V)",
    "1-0:52.7.0(229.8*V)",
    "1-0:72.7.0(232.1*V)",
    "1-0:31.7.0(001.92*A)",
    "1-0:51.7.0(004.71*A)",
    "1-0:71.7.0(001.87*A)",
    "0-0:96.3.10(1)",
    "0-0:17.0.0(999.9*kW)",
    "1-0:31.4.0(999*A)",
    "0-0:96.13.0()",
    "0-1:24.1.0(003)",
    "0-1:96.1.1(37464C4F32313233303037363534)",
    "0-1:24.4.0(1)",
    "0-1:24.2.3(240115184000W)(02345.678*m3)",
    "0-2:24.1.0(007)",
    "0-2:96.1.1(3853414731323334353637383930)",
    "0-2:24.2.1(240115184000W)(00123.456*m3)",
]
BELGIAN = telegram("FLU5\\253769484_A", BELGIAN_LINES)

# Dutch DSMR 5.0.2, three phases, gas on channel 1 (24.2.1), summer time.
DUTCH5_LINES = [
    "1-3:0.2.8(50)",
    "0-0:1.0.0(240612143025S)",
    "0-0:96.1.1(4530303433303037313234353637383930)",
    "1-0:1.8.1(007654.321*kWh)",
    "1-0:1.8.2(006543.210*kWh)",
    "1-0:2.8.1(001234.567*kWh)",
    "1-0:2.8.2(002345.678*kWh)",
    "0-0:96.14.0(0002)",
    "1-0:1.7.0(00.000*kW)",
    "1-0:2.7.0(02.345*kW)",
    "0-0:96.7.21(00004)",
    "0-0:96.7.9(00002)",
    "1-0:99.97.0(1)(0-0:96.7.19)(230925104512S)(0000004213*s)",
    "1-0:32.32.0(00003)",
    "1-0:52.32.0(00002)",
    "1-0:72.32.0(00002)",
    "1-0:32.36.0(00000)",
    "1-0:52.36.0(00000)",
    "1-0:72.36.0(00000)",
    "0-0:96.13.0()",
    "1-0:32.7.0(236.1*V)",
    "1-0:52.7.0(235.4*V)",
    "1-0:72.7.0(237.0*V)",
    "1-0:31.7.0(003*A)",
    "1-0:51.7.0(004*A)",
    "1-0:71.7.0(003*A)",
    "1-0:21.7.0(00.000*kW)",
    "1-0:41.7.0(00.000*kW)",
    "1-0:61.7.0(00.000*kW)",
    "1-0:22.7.0(00.712*kW)",
    "1-0:42.7.0(00.893*kW)",
    "1-0:62.7.0(00.740*kW)",
    "0-1:24.1.0(003)",
    "0-1:96.1.0(4730303332353631323334353637383930)",
    "0-1:24.2.1(240612143000S)(04321.987*m3)",
]
DUTCH5 = telegram("ISK5\\2M550T-1012", DUTCH5_LINES)

# Dutch DSMR 4.2, three phases (no voltages in DSMR 4), gas hourly on channel 1, winter time.
DUTCH4_LINES = [
    "1-3:0.2.8(42)",
    "0-0:1.0.0(231119203510W)",
    "0-0:96.1.1(4530303235303030303637363435373134)",
    "1-0:1.8.1(012345.678*kWh)",
    "1-0:1.8.2(010987.654*kWh)",
    "1-0:2.8.1(000000.000*kWh)",
    "1-0:2.8.2(000000.000*kWh)",
    "0-0:96.14.0(0002)",
    "1-0:1.7.0(00.980*kW)",
    "1-0:2.7.0(00.000*kW)",
    "0-0:96.7.21(00012)",
    "0-0:96.7.9(00003)",
    "1-0:99.97.0(2)(0-0:96.7.19)(221030021517W)(0000001234*s)(230412093045S)(0000000321*s)",
    "1-0:32.32.0(00001)",
    "1-0:52.32.0(00001)",
    "1-0:72.32.0(00001)",
    "1-0:32.36.0(00000)",
    "1-0:52.36.0(00000)",
    "1-0:72.36.0(00000)",
    "0-0:96.13.1()",
    "0-0:96.13.0()",
    "1-0:31.7.0(001*A)",
    "1-0:51.7.0(002*A)",
    "1-0:71.7.0(001*A)",
    "1-0:21.7.0(00.212*kW)",
    "1-0:41.7.0(00.561*kW)",
    "1-0:61.7.0(00.207*kW)",
    "1-0:22.7.0(00.000*kW)",
    "1-0:42.7.0(00.000*kW)",
    "1-0:62.7.0(00.000*kW)",
    "0-1:24.1.0(003)",
    "0-1:96.1.0(4730303139333430333131373739343135)",
    "0-1:24.2.1(231119200000W)(03456.789*m3)",
]
DUTCH4 = telegram("KFM5KAIFA-METER", DUTCH4_LINES)

# Dutch DSMR 5, one phase, no gas meter.
SINGLE_PHASE_LINES = [
    "1-3:0.2.8(50)",
    "0-0:1.0.0(240320071502W)",
    "0-0:96.1.1(4530303434303037393837363534333231)",
    "1-0:1.8.1(000987.654*kWh)",
    "1-0:1.8.2(001098.765*kWh)",
    "1-0:2.8.1(000000.000*kWh)",
    "1-0:2.8.2(000000.000*kWh)",
    "0-0:96.14.0(0001)",
    "1-0:1.7.0(00.431*kW)",
    "1-0:2.7.0(00.000*kW)",
    "0-0:96.7.21(00001)",
    "0-0:96.7.9(00000)",
    "1-0:99.97.0(0)(0-0:96.7.19)",
    "1-0:32.32.0(00000)",
    "1-0:32.36.0(00000)",
    "0-0:96.13.0()",
    "1-0:32.7.0(229.6*V)",
    "1-0:31.7.0(002*A)",
    "1-0:21.7.0(00.431*kW)",
    "1-0:22.7.0(00.000*kW)",
]
SINGLE_PHASE = telegram("Ene5\\T211 ESMR 5.0", SINGLE_PHASE_LINES)


def belgian_at(stamp: str, used_t1: float, gas_stamp: str, gas: float) -> bytes:
    """The Belgian telegram at another time (`YYMMDDhhmmssX`) with other t1 and gas values."""
    lines = [line.replace("240115184512W", stamp).replace("004123.456", f"{used_t1:010.3f}")
             .replace("240115184000W)(02345.678", f"{gas_stamp})({gas:09.3f}") for line in BELGIAN_LINES]
    return telegram("FLU5\\253769484_A", lines)


def capture() -> bytes:
    """A logger's file: a partial first telegram, then five telegrams a second apart with blank lines between
    some, the third with a damaged CRC; the gas value changes with the fourth."""
    partial = BELGIAN[BELGIAN.index(b"1-0:72.7.0"):]
    good = [belgian_at(f"24011518451{s}W", 4123.456 + s / 1000, "240115184000W" if s < 6 else "240115184500W",
                       2345.678 if s < 6 else 2345.701) for s in range(3, 8)]
    damaged = good[2][:-6] + b"%04X\r\n" % (int(good[2][-6:-2], 16) ^ 0x1)
    return partial + good[0] + b"\r\n" + good[1] + damaged + b"\r\n\r\n" + good[3] + good[4]


FILES = {
    "belgian_emucs17.txt": BELGIAN,
    "dutch_dsmr5.txt": DUTCH5,
    "dutch_dsmr4.txt": DUTCH4,
    "single_phase_dsmr5.txt": SINGLE_PHASE,
    "capture.p1": capture(),
}


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name, content in FILES.items():
        (FIXTURES / name).write_bytes(content)


if __name__ == "__main__":
    main()
