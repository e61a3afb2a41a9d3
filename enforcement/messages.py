"""One message catalogue for the sentences the law gives, in Dutch and English.

The law emits a message key plus the facts it used (`RuleHit`); every surface (the review
app, `zes decide`, the public plate check) renders them here, so wording lives in one place.
Officers are Dutch: `nl` is the default language of the user-facing apps.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

LANGUAGES = ("nl", "en")
# The one fallback rule for every catalogue (the law's sentences here, the review app's texts in
# `enforcement.web.texts`): a language we do not have falls back to Dutch, the officers' language.
DEFAULT_LANGUAGE = "nl"


def language(lang: str) -> str:
    """`lang` when we have it, else the default language."""
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


_MONTHS = {
    "nl": (
        "januari", "februari", "maart", "april", "mei", "juni",
        "juli", "augustus", "september", "oktober", "november", "december",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}  # fmt: skip

# Fuel and vehicle-kind words stay as the RDW writes them (Dutch) in both languages: they are
# register values a reviewer can look up.
CATALOGUE: dict[str, dict[str, str]] = {
    "en": {
        "foreign_plate": "Foreign plate ({country}): the rules apply, but camera enforcement "
        "is not possible, so the passage is only counted.",
        "no_zone": "{municipality} has no zero-emission zone.",
        "zone_not_started": "The {zone} zone starts on {start}; this passage is before that.",
        "zone_first_day": "First day of the {zone} zone ({start}).",
        "local_time": "Decided on local time in the Netherlands: {at}.",
        "not_in_scope": "Registered as {kind}: the zero-emission zone applies only to vans and "
        "trucks (commercial vehicles).",
        "trailer_plate": "The camera read a trailer plate; the towing vehicle is what counts.",
        "in_scope": "Registered as a commercial vehicle: in scope of the zero-emission zone.",
        "camper_above_van_mass": "Camper (kampeerwagen) registered as a commercial vehicle with a "
        "permitted maximum mass of {mass} kg, above {limit} kg: whether it counts as a truck "
        "is in doubt.",
        "camper_in_doubt": "Whether the zone applies to this camper is in doubt: a person must "
        "decide.",
        "zero_emission": "Zero-emission vehicle ({fuels}): always allowed.",
        "zero_emission_data_missing": "The register lacks {field}, which does not matter: a "
        "zero-emission vehicle is allowed whatever it is.",
        "ze_class_conflict": "Emission class Z registered beside a combustion fuel ({fuels}): "
        "the register contradicts itself; flagged for data review.",
        "register_conflict_review": "Contradictory register data: a person must decide, and the "
        "register data is checked.",
        "end_state_ze_only": "From {since} only zero-emission vehicles may enter.",
        "missing_register_data": "The register lacks {field}: a person must decide.",
        "class_van": "Van: permitted maximum mass {mass} kg ({limit} kg or less).",
        "category_conflict": "The register's EU category {category} contradicts the permitted "
        "maximum mass of {mass} kg: the mass decides (RVV 86c), the category is checked before "
        "any sanction.",
        "category_reading_agrees": "Read by its EU category {category} as a {reading}, the "
        "vehicle has no access either ({rule}): a violation either way, despite the conflict.",
        "category_reading_differs": "Read by its EU category {category} as a {reading}, the "
        "vehicle would not be in violation ({rule}).",
        "class_conflict": "Van or truck decides whether this is a violation, and the register "
        "data contradicts itself: a person must decide.",
        "class_tractor": "Truck, tractor unit: permitted maximum mass {mass} kg.",
        "class_rigid": "Truck, rigid: permitted maximum mass {mass} kg.",
        "hybrid_not_ze": "Hybrid ({fuels}) is not zero-emission; its emission class decides.",
        "priority_vehicle": "Priority vehicle on duty with optical and sound signals "
        "(RVV 1990 art. 91): allowed.",
        "priority_review": "An officer checks the incident log; never fined automatically.",
        "low_confidence": "Plate read with confidence {confidence} (minimum {minimum}): a "
        "person must check the plate.",
        "special_registration": "Special registration ({series}...: royal, diplomatic, trade "
        "or other plate with little register data): a person must decide.",
        "not_in_register": "Plate not found in the vehicle register: a person must identify "
        "the vehicle.",
        "exported": "The register marks this vehicle as exported: a person must check.",
        "oldtimer": "Oldtimer: first admitted {det}, {years} years or older; exempt until {until}.",
        "oldtimer_ended": "The oldtimer exemption ended on {until}.",
        "oldtimer_not_yet": "First admitted {det}: an oldtimer only from {since}.",
        "wheelchair": "Wheelchair-accessible vehicle (code {code}): exempt until {until}.",
        "wheelchair_ended": "The wheelchair-vehicle exemption ended on {until}.",
        "special_body": "Special body (code {code}) younger than 13 years: exempt until {until}.",
        "special_body_ended": "The special-body exemption (code {code}, first admitted {det}) "
        "ended on {until}.",
        "transition_date": "First admitted {det}, first registered in the Netherlands {nl}; "
        "the transitional rules use {used}.",
        "new_vehicle": "First admitted {det}, on or after {cutoff}: no transitional access. "
        "This cut-off rests on the published policy; the RVV text read so far gives no such "
        "date.",
        "van_no_class": "Van without a registered emission class: no transitional access "
        "(check the register data).",
        "van_low_class": "Van, emission class {euro}: no transitional access.",
        "van_euro5": "Van, emission class 5: allowed until {until}.",
        "van_euro5_ended": "Van, emission class 5: transitional access ended on {until}.",
        "van_euro6": "Van, emission class 6, first admitted {det}: allowed until {until}.",
        "van_euro6_ended": "Van, emission class 6: transitional access ended on {until}.",
        "truck_low_class": "Truck, emission class {euro}: no transitional access.",
        "tractor_euro6": "Tractor unit, Euro VI, first admitted {det}: allowed until {until}.",
        "tractor_euro6_ended": "Tractor unit, Euro VI: transitional access ended on {until}.",
        "tractor_det_too_early": "Tractor unit first admitted {det}, before {since}.",
        "truck_det_too_early": "Truck, emission class {euro}, first admitted {det}: no "
        "transitional access.",
        "rigid_euro6": "Rigid truck, Euro VI, first admitted {det}: allowed until {until}.",
        "rigid_euro6_ended": "Rigid truck, Euro VI: transitional access ended on {until}.",
        "rigid_2017_2019": "Rigid truck, Euro VI, first admitted {det} (2017-2019): national "
        "ontheffing until {until}.",
        "rigid_2017_2019_ended": "The national ontheffing for rigid trucks of 2017-2019 ended "
        "on {until}.",
        "truck_no_access_now": "Truck, emission class {euro}: no access any more.",
        "end_state": "From {since} only zero-emission vehicles may enter.",
        "ontheffing_not_granted": "Ontheffing {type} ({scope}) was {status}.",
        "ontheffing_wrong_scope": "Ontheffing {type} for {scope} is not valid in {zone}.",
        "nationwide_scope_malformed": "Ontheffing {type} names the nationwide scope {scope}, "
        "but this type is only ever granted per municipality: the record is malformed.",
        "nationwide_scope_too_early": "Ontheffing {type} names the nationwide scope {scope}, "
        "but this type is nationwide only for permits from {since}: the record is malformed.",
        "malformed_permit": "A malformed ontheffing record might allow this passage: a person "
        "must decide, and the exemption register is corrected.",
        "ontheffing_no_period": "Ontheffing {type} ({scope}) has no validity period.",
        "ontheffing_not_started": "Ontheffing {type} ({scope}) is valid only from {start}.",
        "ontheffing_ended": "Ontheffing {type} ({scope}) was valid through {last_day}.",
        "day_permit_ended": "Day permit ({scope}) ended at {end}.",
        "day_permit_limit": "Day permit ({scope}) refused: at most {maximum} per vehicle, "
        "municipality and year.",
        "day_permit_min_class": "Day permit ({scope}) requires emission class {minimum} or better.",
        "ontheffing_valid": "Ontheffing {type} ({scope}) is valid for this zone and moment.",
        "ontheffing_allows": "Allowed by ontheffing {type} until {until}.",
        "end_state_ontheffing": "After {since} only an ontheffing valid past 2030 gives access.",
        "warning_period": "Warning period until {until}: a warning letter, no fine.",
        "fine": "Fine of EUR {amount} plus EUR {admin} administration costs.",
        "review_before_sanction": "An authorised officer reviews the evidence before any sanction.",
        "direction_unknown": "The camera could not tell whether the vehicle entered the zone: "
        "a person must decide.",
        "leaving_zone": "The vehicle was leaving the {zone} zone: only an entry is an offence.",
        "no_hit": "No-hit: the passage data is deleted at once; only counters remain.",
        "before_cutoff": "First admitted {det}, before {cutoff}: transitional rules apply. The "
        "cut-off rests on the published policy; the RVV text read so far gives no such date.",
        "ontheffing_considered": "Ontheffing {type} considered.",
        "day_permit_tail": "Day permit for {day} still valid at {at} (until {until}).",
        "warning_period_over": "The warning period ended on {until}.",
        "area_not_started": "Access windows in {area} apply from {start}.",
        "window_unknown_vehicle": "Vehicle unknown or without kind in the register: a person "
        "must decide.",
        "window_not_in_scope": "{kind}: the access windows of {area} apply to goods vehicles.",
        "in_window": "Inside the access window {window} of {area}.",
        "window_missing_data": "The window limits length or mass, and the register lacks it: "
        "a person must decide.",
        "window_exemption": "Ontheffing {type} for {area}.",
        "outside_windows": "Outside the access windows of {area}; nearest window for this "
        "vehicle: {window} on {start}.",
        "no_window_for_vehicle": "{area} has no access window for this vehicle.",
        "privilege_ze_only": "The window {window} is for zero-emission vehicles only.",
        "outcome_allowed": "{zone}: allowed.",
        "outcome_allowed_until": "{zone}: allowed until {until}.",
        "outcome_violation_warning": "{zone}: not allowed (warning period: warning letter).",
        "outcome_violation_fine": "{zone}: not allowed (fine).",
        "outcome_violation": "{zone}: not allowed.",
        "outcome_out_of_scope": "{zone}: the zero-emission zone rules do not apply here.",
        "outcome_undetermined": "{zone}: cannot be decided automatically; a person decides.",
        # The public plate check (enforcement.platecheck).
        "pc_vehicle": "{vehicle}, emission class {emission}, first admitted {year}",
        "pc_vehicle_ze": "{vehicle}, zero-emission",
        "pc_access": "{summary}: access to {zone}.",
        "pc_access_until": "{summary}: access to {zone} up to and including {until}.",
        "pc_access_exemption": "{summary}: an exemption registered for this vehicle allows "
        "access to {zone} up to and including {until}.",
        "pc_violation": "{summary}: no access to {zone}.",
        "pc_out_of_scope": "{summary}: the zero-emission zone rules of {zone} do not apply to "
        "this vehicle.",
        "pc_undetermined": "{summary}: this cannot be answered automatically for {zone}; ask "
        "the municipality.",
        "pc_zone_dates": "Zone {zone} since {start}; warning period (letters, no fines) up to "
        "and including {warning}.",
        "pc_zone_dates_future": "Zone {zone} starts on {start}; warning period (letters, no "
        "fines) up to and including {warning}.",
        "pc_not_started": "The {zone} zone starts on {start}; until then you may enter. From "
        "then: {later}",
        "pc_unknown": "Plate {plate} is not in the Dutch vehicle register. Check the spelling "
        "(0 and O, 1 and I, 8 and B) and whether the plate is current at the RDW.",
        "pc_foreign": "Foreign plate {plate}: the zone rules apply to you too, but camera fines "
        "are not sent abroad. Check the municipality's rules before you drive in.",
        "pc_day_permits_hidden": "Day permits are only shown for today: for another day this "
        "answer is given as if none were registered.",
        "pc_apply_dagontheffing": "Day permit: at most {max} days per vehicle, municipality "
        "and year, applied for at the RDW desk (R22).",
        "pc_apply_bedrijfseconomisch": "Business-economic hardship: one year, valid nationwide "
        "from 2026 (R25).",
        "pc_apply_netcongestie": "Grid congestion: no charging capacity at your premises; two "
        "years, valid nationwide from 2026 (R26).",
        "pc_apply_levertijd": "Delivery time: a zero-emission vehicle is ordered but not yet "
        "delivered (R24).",
        "pc_apply_geen-ZE-alternatief": "No zero-emission alternative on the market for this "
        "kind of vehicle (R27).",
        "pc_apply_aangepast-voertuig-handicap": "Van adapted for a disability with more than "
        "EUR 500 of adaptations (R28).",
        "pc_apply_phev-vrachtauto": "Plug-in hybrid truck (R29).",
    },
    "nl": {
        "foreign_plate": "Buitenlands kenteken ({country}): de regels gelden, maar handhaving "
        "met camera's is niet mogelijk; de passage wordt alleen geteld.",
        "no_zone": "{municipality} heeft geen zero-emissiezone.",
        "zone_not_started": "De zone {zone} gaat in op {start}; deze passage was daarvoor.",
        "zone_first_day": "Eerste dag van de zone {zone} ({start}).",
        "local_time": "Beoordeeld op Nederlandse tijd: {at}.",
        "not_in_scope": "Geregistreerd als {kind}: de zero-emissiezone geldt alleen voor "
        "bestel- en vrachtauto's (Bedrijfsauto).",
        "trailer_plate": "De camera las een aanhangwagenkenteken; het trekkende voertuig telt.",
        "in_scope": "Geregistreerd als Bedrijfsauto: valt onder de zero-emissiezone.",
        "camper_above_van_mass": "Kampeerwagen geregistreerd als Bedrijfsauto met een "
        "toegestane maximum massa van {mass} kg, boven {limit} kg: of het een vrachtauto is, is "
        "onzeker.",
        "camper_in_doubt": "Of de zone voor deze kampeerwagen geldt, is onzeker: een mens beslist.",
        "zero_emission": "Emissieloos voertuig ({fuels}): altijd toegestaan.",
        "zero_emission_data_missing": "In het register ontbreekt {field}; dat doet er niet toe: "
        "een emissieloos voertuig is altijd toegestaan.",
        "ze_class_conflict": "Emissieklasse Z geregistreerd naast een brandstof die verbrandt "
        "({fuels}): het register spreekt zichzelf tegen; gemeld voor controle van de gegevens.",
        "register_conflict_review": "Tegenstrijdige registergegevens: een mens beslist en de "
        "registergegevens worden gecontroleerd.",
        "end_state_ze_only": "Vanaf {since} hebben alleen emissieloze voertuigen toegang.",
        "missing_register_data": "In het register ontbreekt {field}: een mens beslist.",
        "class_van": "Bestelauto: toegestane maximum massa {mass} kg ({limit} kg of minder).",
        "category_conflict": "De EU-categorie {category} in het register past niet bij de "
        "toegestane maximum massa van {mass} kg: de massa beslist (RVV 86c), de categorie wordt "
        "gecontroleerd voordat er een sanctie volgt.",
        "category_reading_agrees": "Gelezen naar de EU-categorie {category} als {reading} "
        "heeft het voertuig evenmin toegang ({rule}): hoe dan ook een overtreding, ondanks de "
        "tegenstrijdigheid.",
        "category_reading_differs": "Gelezen naar de EU-categorie {category} als {reading} "
        "zou het voertuig geen overtreding begaan ({rule}).",
        "class_conflict": "Of het een bestelauto of een vrachtauto is, beslist of dit een "
        "overtreding is, en de registergegevens spreken elkaar tegen: een mens beslist.",
        "class_tractor": "Vrachtauto, opleggertrekker: toegestane maximum massa {mass} kg.",
        "class_rigid": "Vrachtauto, bakwagen: toegestane maximum massa {mass} kg.",
        "hybrid_not_ze": "Hybride ({fuels}) is niet emissieloos; de emissieklasse beslist.",
        "priority_vehicle": "Voorrangsvoertuig in dienst met optische en geluidssignalen "
        "(RVV 1990 art. 91): toegestaan.",
        "priority_review": "Een boa controleert het incidentlog; nooit automatisch een boete.",
        "low_confidence": "Kenteken gelezen met zekerheid {confidence} (minimaal {minimum}): "
        "een mens controleert het kenteken.",
        "special_registration": "Bijzonder kenteken ({series}...: koninklijk huis, "
        "diplomatiek, handelaars- of ander kenteken met weinig registergegevens): een mens "
        "beslist.",
        "not_in_register": "Kenteken niet gevonden in het kentekenregister: een mens stelt "
        "het voertuig vast.",
        "exported": "Het register meldt dit voertuig als geëxporteerd: een mens controleert.",
        "oldtimer": "Oldtimer: eerste toelating {det}, {years} jaar of ouder; vrijgesteld tot "
        "en met {until}.",
        "oldtimer_ended": "De oldtimervrijstelling liep tot en met {until}.",
        "oldtimer_not_yet": "Eerste toelating {det}: pas oldtimer vanaf {since}.",
        "wheelchair": "Rolstoeltoegankelijk voertuig (code {code}): vrijgesteld tot en met "
        "{until}.",
        "wheelchair_ended": "De vrijstelling voor rolstoelvoertuigen liep tot en met {until}.",
        "special_body": "Bijzondere carrosserie (code {code}) jonger dan 13 jaar: vrijgesteld "
        "tot en met {until}.",
        "special_body_ended": "De vrijstelling voor bijzondere carrosserie (code {code}, "
        "eerste toelating {det}) liep tot en met {until}.",
        "transition_date": "Eerste toelating {det}, eerste tenaamstelling in Nederland {nl}; "
        "de overgangsregels gebruiken {used}.",
        "new_vehicle": "Eerste toelating {det}, op of na {cutoff}: geen overgangsregeling. "
        "Deze grens berust op het gepubliceerde beleid; de tot nu toe gelezen tekst van het "
        "RVV noemt zo'n datum niet.",
        "van_no_class": "Bestelauto zonder geregistreerde emissieklasse: geen "
        "overgangsregeling (controleer de registergegevens).",
        "van_low_class": "Bestelauto, emissieklasse {euro}: geen overgangsregeling.",
        "van_euro5": "Bestelauto, emissieklasse 5: toegang tot en met {until}.",
        "van_euro5_ended": "Bestelauto, emissieklasse 5: de overgangsregeling liep tot en met "
        "{until}.",
        "van_euro6": "Bestelauto, emissieklasse 6, eerste toelating {det}: toegang tot en met "
        "{until}.",
        "van_euro6_ended": "Bestelauto, emissieklasse 6: de overgangsregeling liep tot en met "
        "{until}.",
        "truck_low_class": "Vrachtauto, emissieklasse {euro}: geen overgangsregeling.",
        "tractor_euro6": "Opleggertrekker, Euro VI, eerste toelating {det}: toegang tot en met "
        "{until}.",
        "tractor_euro6_ended": "Opleggertrekker, Euro VI: de overgangsregeling liep tot en met "
        "{until}.",
        "tractor_det_too_early": "Opleggertrekker met eerste toelating {det}, vóór {since}.",
        "truck_det_too_early": "Vrachtauto, emissieklasse {euro}, eerste toelating {det}: geen "
        "overgangsregeling.",
        "rigid_euro6": "Bakwagen, Euro VI, eerste toelating {det}: toegang tot en met {until}.",
        "rigid_euro6_ended": "Bakwagen, Euro VI: de overgangsregeling liep tot en met {until}.",
        "rigid_2017_2019": "Bakwagen, Euro VI, eerste toelating {det} (2017-2019): landelijke "
        "ontheffing tot en met {until}.",
        "rigid_2017_2019_ended": "De landelijke ontheffing voor bakwagens uit 2017-2019 liep "
        "tot en met {until}.",
        "truck_no_access_now": "Vrachtauto, emissieklasse {euro}: geen toegang meer.",
        "end_state": "Vanaf {since} hebben alleen emissieloze voertuigen toegang.",
        "ontheffing_not_granted": "Ontheffing {type} ({scope}) is {status}.",
        "ontheffing_wrong_scope": "Ontheffing {type} voor {scope} geldt niet in {zone}.",
        "nationwide_scope_malformed": "Ontheffing {type} noemt het landelijke bereik {scope}, "
        "maar dit type wordt alleen per gemeente verleend: het record is onjuist.",
        "nationwide_scope_too_early": "Ontheffing {type} noemt het landelijke bereik {scope}, "
        "maar dit type geldt pas landelijk voor ontheffingen vanaf {since}: het record is "
        "onjuist.",
        "malformed_permit": "Een onjuist ontheffingsrecord zou deze passage kunnen toestaan: "
        "een mens beslist en het ontheffingenregister wordt verbeterd.",
        "ontheffing_no_period": "Ontheffing {type} ({scope}) heeft geen geldigheidsperiode.",
        "ontheffing_not_started": "Ontheffing {type} ({scope}) geldt pas vanaf {start}.",
        "ontheffing_ended": "Ontheffing {type} ({scope}) gold tot en met {last_day}.",
        "day_permit_ended": "Dagontheffing ({scope}) eindigde op {end}.",
        "day_permit_limit": "Dagontheffing ({scope}) geweigerd: maximaal {maximum} per "
        "voertuig, gemeente en jaar.",
        "day_permit_min_class": "Dagontheffing ({scope}) vereist emissieklasse {minimum} of beter.",
        "ontheffing_valid": "Ontheffing {type} ({scope}) geldt voor deze zone en dit moment.",
        "ontheffing_allows": "Toegestaan met ontheffing {type} tot en met {until}.",
        "end_state_ontheffing": "Na {since} geeft alleen een ontheffing die na 2030 doorloopt "
        "toegang.",
        "warning_period": "Waarschuwingsperiode tot en met {until}: een waarschuwingsbrief, "
        "geen boete.",
        "fine": "Boete van EUR {amount} plus EUR {admin} administratiekosten.",
        "review_before_sanction": "Een bevoegde boa beoordeelt het bewijs voordat er een "
        "sanctie volgt.",
        "direction_unknown": "De camera kon niet zien of het voertuig de zone inreed: een mens "
        "beslist.",
        "leaving_zone": "Het voertuig verliet de zone {zone}: alleen inrijden is een overtreding.",
        "no_hit": "Geen hit: de passagegegevens worden direct verwijderd; alleen tellingen "
        "blijven.",
        "before_cutoff": "Eerste toelating {det}, vóór {cutoff}: de overgangsregels gelden. "
        "Deze grens berust op het gepubliceerde beleid; de tot nu toe gelezen tekst van het "
        "RVV noemt zo'n datum niet.",
        "ontheffing_considered": "Ontheffing {type} bekeken.",
        "day_permit_tail": "Dagontheffing voor {day} geldt nog op {at} (tot {until}).",
        "warning_period_over": "De waarschuwingsperiode eindigde op {until}.",
        "area_not_started": "Venstertijden in {area} gelden vanaf {start}.",
        "window_unknown_vehicle": "Voertuig onbekend of zonder voertuigsoort in het register: "
        "een mens beslist.",
        "window_not_in_scope": "{kind}: de venstertijden van {area} gelden voor vrachtverkeer.",
        "in_window": "Binnen het venster {window} van {area}.",
        "window_missing_data": "Het venster beperkt lengte of massa en het register mist die: "
        "een mens beslist.",
        "window_exemption": "Ontheffing {type} voor {area}.",
        "outside_windows": "Buiten de venstertijden van {area}; dichtstbijzijnde venster voor "
        "dit voertuig: {window} op {start}.",
        "no_window_for_vehicle": "{area} heeft geen venster voor dit voertuig.",
        "privilege_ze_only": "Het venster {window} is alleen voor emissieloze voertuigen.",
        "outcome_allowed": "{zone}: toegestaan.",
        "outcome_allowed_until": "{zone}: toegestaan tot en met {until}.",
        "outcome_violation_warning": "{zone}: niet toegestaan (waarschuwingsperiode: "
        "waarschuwingsbrief).",
        "outcome_violation_fine": "{zone}: niet toegestaan (boete).",
        "outcome_violation": "{zone}: niet toegestaan.",
        "outcome_out_of_scope": "{zone}: de regels van de zero-emissiezone gelden hier niet.",
        "outcome_undetermined": "{zone}: niet automatisch te beslissen; een mens beslist.",
        "pc_vehicle": "{vehicle}, emissieklasse {emission}, eerste toelating {year}",
        "pc_vehicle_ze": "{vehicle}, emissieloos",
        "pc_access": "{summary}: toegang tot {zone}.",
        "pc_access_until": "{summary}: toegang tot {zone} tot en met {until}.",
        "pc_access_exemption": "{summary}: een voor dit voertuig geregistreerde ontheffing "
        "geeft toegang tot {zone} tot en met {until}.",
        "pc_violation": "{summary}: geen toegang tot {zone}.",
        "pc_out_of_scope": "{summary}: de regels van de zero-emissiezone {zone} gelden niet "
        "voor dit voertuig.",
        "pc_undetermined": "{summary}: voor {zone} niet automatisch te beantwoorden; vraag het "
        "de gemeente.",
        "pc_zone_dates": "Zone {zone} sinds {start}; waarschuwingsperiode (brief, geen boete) "
        "tot en met {warning}.",
        "pc_zone_dates_future": "Zone {zone} gaat in op {start}; waarschuwingsperiode (brief, "
        "geen boete) tot en met {warning}.",
        "pc_not_started": "De zone {zone} gaat in op {start}; tot dan mag u erin. Vanaf dan: "
        "{later}",
        "pc_unknown": "Kenteken {plate} staat niet in het Nederlandse kentekenregister. "
        "Controleer de schrijfwijze (0 en O, 1 en I, 8 en B) en of het kenteken nog geldig is "
        "bij de RDW.",
        "pc_foreign": "Buitenlands kenteken {plate}: de regels van de zone gelden ook voor u, "
        "maar camerabeboeting wordt niet naar het buitenland gestuurd. Bekijk de regels van "
        "de gemeente voordat u de zone inrijdt.",
        "pc_day_permits_hidden": "Dagontheffingen worden alleen voor vandaag getoond: voor een "
        "andere dag is dit antwoord gegeven alsof er geen is geregistreerd.",
        "pc_apply_dagontheffing": "Dagontheffing: maximaal {max} dagen per voertuig, gemeente "
        "en jaar, aan te vragen bij het RDW-loket (R22).",
        "pc_apply_bedrijfseconomisch": "Bedrijfseconomische ontheffing: een jaar, vanaf 2026 "
        "landelijk geldig (R25).",
        "pc_apply_netcongestie": "Netcongestie: geen laadcapaciteit op uw locatie; twee jaar, "
        "vanaf 2026 landelijk geldig (R26).",
        "pc_apply_levertijd": "Levertijd: een emissieloos voertuig is besteld maar nog niet "
        "geleverd (R24).",
        "pc_apply_geen-ZE-alternatief": "Geen emissieloos alternatief op de markt voor dit "
        "soort voertuig (R27).",
        "pc_apply_aangepast-voertuig-handicap": "Bestelauto aangepast voor een beperking met "
        "meer dan EUR 500 aan aanpassingen (R28).",
        "pc_apply_phev-vrachtauto": "Plug-in hybride vrachtauto (R29).",
    },
}

#: Argument values the law passes as codes, in words: a permit's status, a vehicle class.
#: The RDW's voertuigsoort in English (the register writes it in Dutch).
_KINDS_EN = {
    "Bedrijfsauto": "commercial vehicle",
    "Personenauto": "passenger car",
    "Bus": "bus",
    "Motorfiets": "motorcycle",
    "Bromfiets": "moped",
    "Driewielig motorrijtuig": "three-wheeled motor vehicle",
    "Aanhangwagen": "trailer",
    "Oplegger": "semi-trailer",
    "Middenasaanhangwagen": "centre-axle trailer",
    "Land- of bosbouwtrekker": "agricultural or forestry tractor",
    "Mobiele machine": "mobile machine",
}

_WORDS: dict[str, dict[str, dict[str, str]]] = {
    "status": {"nl": {"refused": "geweigerd", "revoked": "ingetrokken"}, "en": {}},
    "kind": {"nl": {}, "en": _KINDS_EN},
    "vehicle": {"nl": {}, "en": {k: v[0].upper() + v[1:] for k, v in _KINDS_EN.items()}},
    "reading": {
        "nl": {"van": "bestelauto", "tractor": "opleggertrekker", "rigid": "bakwagen"},
        "en": {"van": "van", "tractor": "tractor unit", "rigid": "rigid truck"},
    },
}


def format_value(value: object, lang: str) -> str:
    """Dates as '31 december 2028' / '31 December 2028'; instants to the minute."""
    if isinstance(value, datetime):
        return f"{format_value(value.date(), lang)} {value:%H:%M}"
    if isinstance(value, date):
        return f"{value.day} {_MONTHS[lang][value.month - 1]} {value.year}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def render(key: str, args: Mapping[str, object], lang: str = "en") -> str:
    """The sentence for `key` in `lang` (an unknown language falls back, see `language`)."""
    lang = language(lang)
    template = CATALOGUE[lang].get(key)
    if template is None:
        raise KeyError(f"no message {key!r} in the {lang} catalogue")
    values = {k: format_value(v, lang) for k, v in args.items()}
    for name, words in _WORDS.items():
        if name in values:
            values[name] = words[lang].get(values[name], values[name])
    return template.format(**values)
