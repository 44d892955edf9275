"""Write the protocol-layout corpus: one small CSV per layout of a precinct protocol.

Each layout lists its headers as the protocol form (or the commission's export) words
them, with what each line means. The numbers are synthetic but keep the protocol's
identities (received = issued + unused + spoiled, boxes = valid + invalid, parties add
up to valid), so a wrong mapping fails the plausibility check. The meanings are the
corpus's expected mapping: ``tests/test_layouts.py`` reads ``layouts.json``.

Run from this folder: ``python make_layouts.py``.

Sources of the wording: Kazakhstan, Constitutional Law "On Elections" (art. 43-44)
and the CEC's protocol forms (Majilis party lists, single-mandate districts,
maslikhats, President, the 2022 referendum), in Kazakh and Russian; Russia, federal
law 67-FZ art. 67 and the CEC forms (Duma 2016/2021 "содержащихся в" box lines, the
2020 all-Russian vote with "участников голосования" and a single box line); Belarus,
Electoral Code art. 55 ("в том числе досрочно"); Kyrgyzstan, Electoral Code art. 43
(main and additional lists); Ukraine, the precinct protocol of the presidential law.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
STATIONS = 30

# role: what the line is. Fields: region, district, station_id, registered,
# registered_extra, issued, issued_early, issued_day, issued_mobile, cast, box_mobile,
# box_station, valid, invalid. Non-candidate lines: received, spoiled, unused, lost,
# absentee, of_which, percent, code. Candidates: party.
KZ_PARTIES_KK = [
    '"AMANAT" партиясы',
    '"Ауыл" халықтық-демократиялық патриоттық партиясы',
    '"Respublica" партиясы',
    '"Ақ жол" Қазақстанның демократиялық партиясы',
    "Қазақстан Халық партиясы",
    "Жалпыұлттық социал-демократиялық партия",
    '"Байтақ" Қазақстанның жасылдар партиясы',
    "Барлығына қарсы",
]
KZ_PARTIES_RU = [
    'Партия "AMANAT"',
    'Народно-демократическая патриотическая партия "Ауыл"',
    'Партия "Respublica"',
    'Демократическая партия Казахстана "Ак жол"',
    "Народная партия Казахстана",
    "Общенациональная социал-демократическая партия",
    'Партия зеленых Казахстана "Байтак"',
    "Против всех",
]

LAYOUTS: dict[str, list[tuple[str, str]]] = {
    "kz_majilis_party_kk": [
        ("Облыс", "region"),
        ("Учаске №", "station_id"),
        ("Сайлаушылар тізіміне енгізілген сайлаушылар саны", "registered"),
        ("Учаскелік сайлау комиссиясы алған сайлау бюллетеньдерінің саны", "received"),
        ("Сайлау бюллетеньдерін алған сайлаушылар саны", "issued"),
        ("Дауыс беруге қатысқан сайлаушылар саны", "cast"),
        ("Бүлінген сайлау бюллетеньдерінің саны", "spoiled"),
        ("Пайдаланылмаған (жойылған) сайлау бюллетеньдерінің саны", "unused"),
        ("Жарамсыз деп танылған сайлау бюллетеньдерінің саны", "invalid"),
    ]
    + [(p, "party") for p in KZ_PARTIES_KK],
    "kz_majilis_party_ru": [
        ("Область", "region"),
        ("Участок №", "station_id"),
        ("Число избирателей, внесенных в списки избирателей", "registered"),
        (
            "Число избирательных бюллетеней, полученных участковой избирательной комиссией",
            "received",
        ),
        ("Число избирателей, получивших избирательные бюллетени", "issued"),
        ("Число избирателей, принявших участие в голосовании", "cast"),
        ("Число испорченных избирательных бюллетеней", "spoiled"),
        ("Число неиспользованных (погашенных) избирательных бюллетеней", "unused"),
        ("Число избирательных бюллетеней, признанных недействительными", "invalid"),
    ]
    + [(p, "party") for p in KZ_PARTIES_RU],
    # typed without a Kazakh keyboard, line breaks inside cells, Latin look-alikes
    "kz_majilis_party_kk_plain_keyboard": [
        ("Облыс", "region"),
        ("Учаске\n№", "station_id"),
        ("Сайлаушылар тiзiмiне\nенгiзiлген сайлаушылар саны", "registered"),
        ("Учаскелiк сайлау комиссиясы алган сайлау бюллетеньдерiнiн саны", "received"),
        ("Сайлау бюллетеньдерiн алган\nсайлаушылар саны", "issued"),
        ("Дауыс беруге катыскан сайлаушылар саны", "cast"),
        ("Булiнген сайлау бюллетеньдерiнiн саны", "spoiled"),
        ("Пайдаланылмаган сайлау бюллетеньдерiнiн саны", "unused"),
        ("Жарамсыз деп танылган бюллетеньдер саны", "invalid"),
    ]
    + [(p, "party") for p in KZ_PARTIES_KK],
    "kz_majilis_party_ru_lookalikes": [
        ("Oбласть", "region"),  # Latin O
        ("Участок №", "station_id"),
        ("Число избирателей, внесенных в списки избирaтелей", "registered"),  # Latin a
        ("Число бюллетеней, полученных участковой комиссией", "received"),
        ("Число избирателей, получивших бюллетени", "issued"),
        ("Число избирателей, принявших участие в голосовании", "cast"),
        ("Число испорченных бюллетеней", "spoiled"),
        ("Число погашенных бюллетеней", "unused"),
        ("Число бюллетеней, признанных нeдействительными", "invalid"),  # Latin e
    ]
    + [(p, "party") for p in KZ_PARTIES_RU],
    "kz_single_mandate_kk": [
        ("Облыс", "region"),
        ("Сайлау округі №", "district"),
        ("Учаске №", "station_id"),
        ("Сайлаушылар тізіміне енгізілген сайлаушылар саны", "registered"),
        ("Учаскелік сайлау комиссиясы алған сайлау бюллетеньдерінің саны", "received"),
        ("Сайлау бюллетеньдерін алған сайлаушылар саны", "issued"),
        ("Дауыс беруге қатысқан сайлаушылар саны", "cast"),
        ("Бүлінген сайлау бюллетеньдерінің саны", "spoiled"),
        ("Пайдаланылмаған сайлау бюллетеньдерінің саны", "unused"),
        ("Жарамсыз деп танылған сайлау бюллетеньдерінің саны", "invalid"),
        ("Әбілов Ерлан Маратұлы", "party"),
        ("Бекова Айгүл Серікқызы", "party"),
        ("Иванов Сергей Петрович", "party"),
        ("Барлығына қарсы", "party"),
    ],
    "kz_single_mandate_ru": [
        ("Область", "region"),
        ("Избирательный округ №", "district"),
        ("Участок №", "station_id"),
        ("Число избирателей, внесенных в списки избирателей", "registered"),
        ("Число бюллетеней, полученных участковой избирательной комиссией", "received"),
        ("Число избирателей, получивших избирательные бюллетени", "issued"),
        ("Число избирателей, принявших участие в голосовании", "cast"),
        ("Число испорченных избирательных бюллетеней", "spoiled"),
        ("Число неиспользованных избирательных бюллетеней", "unused"),
        ("Число бюллетеней, признанных недействительными", "invalid"),
        ("Абилов Ерлан Маратович", "party"),
        ("Бекова Айгуль Сериковна", "party"),
        ("Иванов Сергей Петрович", "party"),
        ("Против всех", "party"),
    ],
    "kz_presidential_ru": [
        ("Область, город республиканского значения", "region"),
        ("Район", "district"),
        ("Избирательный участок №", "station_id"),
        ("Число избирателей, включенных в списки избирателей", "registered"),
        (
            "Число избирательных бюллетеней, полученных участковой избирательной комиссией",
            "received",
        ),
        ("Число избирателей, получивших избирательные бюллетени", "issued"),
        ("Число избирателей, принявших участие в голосовании", "cast"),
        ("Число испорченных избирательных бюллетеней", "spoiled"),
        ("Число неиспользованных избирательных бюллетеней", "unused"),
        ("Число бюллетеней, признанных недействительными", "invalid"),
        ("Токаев Касым-Жомарт Кемелевич", "party"),
        ("Ауесбаев Нурлан Кайруллаулы", "party"),
        ("Даулетова Сауле Дуйсенбаевна", "party"),
        ("Против всех", "party"),
    ],
    "kz_presidential_kk": [
        ("Облыс, республикалық маңызы бар қала", "region"),
        ("Аудан", "district"),
        ("Сайлау учаскесінің №", "station_id"),
        ("Сайлаушылар тізіміне енгізілген сайлаушылар саны", "registered"),
        ("Учаскелік сайлау комиссиясы алған сайлау бюллетеньдерінің саны", "received"),
        ("Сайлау бюллетеньдерін алған сайлаушылар саны", "issued"),
        ("Дауыс беруге қатысқан сайлаушылар саны", "cast"),
        ("Бүлінген сайлау бюллетеньдерінің саны", "spoiled"),
        ("Пайдаланылмаған сайлау бюллетеньдерінің саны", "unused"),
        ("Жарамсыз деп танылған сайлау бюллетеньдерінің саны", "invalid"),
        ("Тоқаев Қасым-Жомарт Кемелұлы", "party"),
        ("Әуесбаев Нұрлан Қайроллаұлы", "party"),
        ("Даулетова Сәуле Дүйсенбайқызы", "party"),
        ("Барлығына қарсы", "party"),
    ],
    "kz_maslikhat_ru": [
        ("Область", "region"),
        ("Город, район", "district"),
        ("№ участка", "station_id"),
        ("Число избирателей, внесенных в списки избирателей", "registered"),
        ("Число бюллетеней, полученных участковой избирательной комиссией", "received"),
        ("Число избирателей, получивших избирательные бюллетени", "issued"),
        ("в том числе вне помещения для голосования", "of_which"),
        ("Число избирателей, принявших участие в голосовании", "cast"),
        ("Число испорченных бюллетеней", "spoiled"),
        ("Число неиспользованных бюллетеней", "unused"),
        ("Число бюллетеней, признанных недействительными", "invalid"),
        ('Партия "AMANAT"', "party"),
        ('Партия "Respublica"', "party"),
        ('НДПП "Ауыл"', "party"),
        ("Против всех", "party"),
    ],
    "kz_referendum_2022_ru": [
        ("Область", "region"),
        ("Участок №", "station_id"),
        ("Число граждан, внесенных в списки для голосования", "registered"),
        ("Число бюллетеней, полученных участковой комиссией референдума", "received"),
        ("Число граждан, получивших бюллетени", "issued"),
        ("Число граждан, принявших участие в референдуме", "cast"),
        ("Число испорченных бюллетеней", "spoiled"),
        ("Число неиспользованных бюллетеней", "unused"),
        ("Число бюллетеней, признанных недействительными", "invalid"),
        ("Да", "party"),
        ("Нет", "party"),
    ],
    "kz_referendum_2022_kk": [
        ("Облыс", "region"),
        ("Учаске №", "station_id"),
        ("Дауыс беруге арналған тізімге енгізілген азаматтар саны", "registered"),
        ("Учаскелік референдум комиссиясы алған бюллетеньдер саны", "received"),
        ("Бюллетень алған азаматтар саны", "issued"),
        ("Референдумға қатысқан азаматтар саны", "cast"),
        ("Бүлінген бюллетеньдер саны", "spoiled"),
        ("Пайдаланылмаған бюллетеньдер саны", "unused"),
        ("Жарамсыз деп танылған бюллетеньдер саны", "invalid"),
        ("Иә", "party"),
        ("Жоқ", "party"),
    ],
    "ru_vote_2020_single_box": [
        ("Субъект РФ", "region"),
        ("ТИК", "district"),
        ("УИК", "station_id"),
        (
            "Число участников голосования, включенных в список участников голосования "
            "на момент окончания голосования",
            "registered",
        ),
        ("Число бюллетеней, полученных участковой комиссией", "received"),
        ("Число бюллетеней, выданных участникам голосования досрочно", "issued_early"),
        (
            "Число бюллетеней, выданных участникам голосования в помещении для голосования",
            "issued_day",
        ),
        (
            "Число бюллетеней, выданных участникам голосования вне помещения для голосования",
            "issued_mobile",
        ),
        ("Число погашенных бюллетеней", "unused"),
        ("Число бюллетеней, содержащихся в ящиках для голосования", "cast"),
        ("Число недействительных бюллетеней", "invalid"),
        ("Число действительных бюллетеней", "valid"),
        ("ДА", "party"),
        ("НЕТ", "party"),
    ],
    "ru_duma_2021_protocol": [
        ("Субъект РФ", "region"),
        ("Наименование ТИК", "district"),
        ("Номер УИК", "station_id"),
        (
            "Число избирателей, внесенных в список избирателей на момент окончания голосования",
            "registered",
        ),
        (
            "Число избирательных бюллетеней, полученных участковой избирательной комиссией",
            "received",
        ),
        (
            "Число избирательных бюллетеней, выданных избирателям, проголосовавшим досрочно",
            "issued_early",
        ),
        (
            "Число избирательных бюллетеней, выданных в помещении для голосования в день голосования",
            "issued_day",
        ),
        (
            "Число избирательных бюллетеней, выданных вне помещения для голосования в день голосования",
            "issued_mobile",
        ),
        ("Число погашенных избирательных бюллетеней", "unused"),
        (
            "Число избирательных бюллетеней, содержащихся в переносных ящиках для голосования",
            "box_mobile",
        ),
        (
            "Число избирательных бюллетеней, содержащихся в стационарных ящиках для голосования",
            "box_station",
        ),
        ("Число недействительных избирательных бюллетеней", "invalid"),
        ("Число действительных избирательных бюллетеней", "valid"),
        ("Число утраченных избирательных бюллетеней", "lost"),
        ("Число избирательных бюллетеней, не учтенных при получении", "lost"),
        ('1. Политическая партия "КОММУНИСТИЧЕСКАЯ ПАРТИЯ РОССИЙСКОЙ ФЕДЕРАЦИИ"', "party"),
        ('2. Всероссийская политическая партия "ЕДИНАЯ РОССИЯ"', "party"),
        ("3. Политическая партия ЛДПР – Либерально-демократическая партия России", "party"),
    ],
    "by_president_2020": [
        ("Область", "region"),
        ("Район", "district"),
        ("Номер участка", "station_id"),
        (
            "Число избирателей, включенных в список граждан, имеющих право участвовать в выборах",
            "registered",
        ),
        ("Число избирателей, получивших бюллетени", "issued"),
        ("в том числе проголосовавших досрочно", "of_which"),
        ("из них по месту нахождения", "of_which"),
        ("Число избирателей, принявших участие в голосовании", "cast"),
        ("Лукашенко Александр Григорьевич", "party"),
        ("Тихановская Светлана Георгиевна", "party"),
        ("Дмитриев Андрей Владимирович", "party"),
        ("Против всех кандидатов", "party"),
        ("Число бюллетеней, признанных недействительными", "invalid"),
    ],
    "kg_parliament_2021": [
        ("Область", "region"),
        ("Участок №", "station_id"),
        (
            "Число избирателей, внесенных в основной список на момент окончания голосования",
            "registered",
        ),
        ("Число избирателей, внесенных в дополнительный список", "registered_extra"),
        ("Число бюллетеней, полученных участковой избирательной комиссией", "received"),
        ("Число бюллетеней, выданных избирателям, проголосовавшим досрочно", "issued_early"),
        (
            "Число бюллетеней, выданных избирателям в помещении для голосования в день голосования",
            "issued_day",
        ),
        ("Число бюллетеней, выданных избирателям вне помещения для голосования", "issued_mobile"),
        ("Число погашенных бюллетеней", "unused"),
        ("Число бюллетеней, содержащихся в переносных ящиках для голосования", "box_mobile"),
        ("Число бюллетеней, содержащихся в стационарных ящиках для голосования", "box_station"),
        ("Число действительных бюллетеней", "valid"),
        ("Число недействительных бюллетеней", "invalid"),
        ("Партия Ата-Журт Кыргызстан", "party"),
        ("Партия Ишеним", "party"),
        ("Партия Ынтымак", "party"),
        ("Против всех", "party"),
    ],
    "ua_president_2019": [
        ("Область", "region"),
        ("№ виборчої дільниці", "station_id"),
        ("Кількість виборчих бюлетенів, отриманих дільничною виборчою комісією", "received"),
        ("Кількість невикористаних виборчих бюлетенів", "unused"),
        ("Кількість виборців, внесених до списку виборців на виборчій дільниці", "registered"),
        ("Кількість виборців, які отримали виборчі бюлетені", "issued"),
        ("Кількість виборців, які взяли участь у голосуванні", "cast"),
        ("Кількість виборчих бюлетенів, визнаних недійсними", "invalid"),
        ("Зеленський Володимир Олександрович", "party"),
        ("Порошенко Петро Олексійович", "party"),
        ("Тимошенко Юлія Володимирівна", "party"),
    ],
    "en_commission_export": [
        ("Region", "region"),
        ("District", "district"),
        ("Polling station number", "station_id"),
        ("Station code", "code"),
        ("Registered voters", "registered"),
        ("Ballots received", "received"),
        ("Ballots issued", "issued"),
        ("Spoiled ballot papers", "spoiled"),
        ("Unused ballots", "unused"),
        ("Ballots cast", "cast"),
        ("Invalid ballots", "invalid"),
        ("Valid votes", "valid"),
        ("Turnout %", "percent"),
        ("Party A", "party"),
        ("Party B", "party"),
        ("Party C", "party"),
    ],
}

FIELD_OF = {
    "region": "region",
    "district": "district",
    "station_id": "station_id",
    "registered": "registered",
    "registered_extra": "registered",
    "issued": "ballots_issued",
    "issued_early": "ballots_issued",
    "issued_day": "ballots_issued",
    "issued_mobile": "ballots_issued",
    "cast": "ballots_cast",
    "box_mobile": "ballots_cast",
    "box_station": "ballots_cast",
    "valid": "valid",
    "invalid": "invalid",
    "percent": "turnout",
}


def rows(layout: list[tuple[str, str]], seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    parties = sum(role == "party" for _, role in layout)
    out = []
    for k in range(STATIONS):
        registered = int(rng.integers(400, 2500))
        extra = int(rng.integers(0, 30))
        electorate = registered + extra
        early = int(rng.binomial(electorate, 0.05))
        day = int(rng.binomial(electorate - early, 0.5))
        mobile = int(rng.binomial(electorate - early - day, 0.03))
        issued = early + day + mobile
        received = int(np.ceil(electorate * 1.01)) + 5
        spoiled = int(rng.binomial(issued, 0.002))
        unused = received - issued - spoiled
        cast = issued - int(rng.binomial(issued, 0.003))
        box_mobile = min(mobile, cast)
        invalid = int(rng.binomial(cast, 0.015))
        valid = cast - invalid
        votes = rng.multinomial(valid, rng.dirichlet(np.ones(parties) * 3))
        values = {
            "region": ["North", "South", "East"][k % 3],
            "district": f"D{k % 5 + 1}",
            "station_id": str(100 + k),
            "code": f"{7101000 + k * 13}",
            "registered": registered
            if any(r == "registered_extra" for _, r in layout)
            else electorate,
            "registered_extra": extra,
            "received": received,
            "issued": issued,
            "issued_early": early,
            "issued_day": day,
            "issued_mobile": mobile,
            "of_which": early,
            "cast": cast,
            "box_mobile": box_mobile,
            "box_station": cast - box_mobile,
            "spoiled": spoiled,
            "unused": unused,
            "lost": 0,
            "valid": valid,
            "invalid": invalid,
            "percent": f"{100 * issued / electorate:.1f}",
        }
        party_votes = iter(votes)
        out.append(
            [str(next(party_votes)) if role == "party" else str(values[role]) for _, role in layout]
        )
    return out


def expected(layout: list[tuple[str, str]]) -> dict:
    fields: dict[str, list[str]] = {}
    for header, role in layout:
        if role in FIELD_OF:
            fields.setdefault(FIELD_OF[role], []).append(header)
    candidates = [header for header, role in layout if role == "party"]
    ignored = [header for header, role in layout if role not in FIELD_OF and role != "party"]
    return {"fields": fields, "candidates": candidates, "ignored": ignored}


def main() -> None:
    table = {}
    for seed, (name, layout) in enumerate(LAYOUTS.items()):
        with open(HERE / f"{name}.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([header for header, _ in layout])
            writer.writerows(rows(layout, seed))
        table[name] = expected(layout)
    (HERE / "layouts.json").write_text(
        json.dumps(table, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
