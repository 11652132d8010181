"""Swedish words for the password estimate: ``zxcvbn``'s lists are English, so without these
``Januari2025!!``, ``Sommaren2024!!`` or ``Kalle Anka 1934!`` got its top score.

Written for govsms, most common first (the estimator counts a word's position as the number of
guesses it takes): months, weekdays, seasons and holidays, sports and teams, the largest cities
and the counties and provinces, common first names, and everyday words. Each word containing
å, ä or ö is also listed as typed without them (``goteborg``). The estimator matches them in any
case and with l33t substitutions (``G0teb0rg``), forwards and backwards.
"""

from __future__ import annotations

_WORDS = """
lösenord hemligt hemlis välkommen sverige svensk svenska svenne kronor krona kalle anka kalleanka
januari februari mars april maj juni juli augusti september oktober november december
jan feb apr jun jul aug sep sept okt nov dec
måndag tisdag onsdag torsdag fredag lördag söndag måndagen tisdagen onsdagen torsdagen fredagen lördagen söndagen
vinter vintern vår våren sommar sommaren höst hösten sommarlov jullov sportlov höstlov påsklov semester
julafton juldagen midsommar midsommarafton påsk påskafton nyår nyårsafton lucia valborg kräftskiva
allhelgona advent trettondagen nationaldagen tomte tomten godjul gottnytt glad
fotboll hockey ishockey handboll innebandy bandy golf tennis skidor skidåkning friidrott simning ridning
löpning cykel cykling segling fiske jakt gymmet träning
aik djurgården dif hammarby bajen ifk blåvitt malmöff mff elfsborg häcken norrköping sirius
frölunda färjestad brynäs luleåhockey skellefteå leksand modo växjölakers rögle timrå
tre trekronor blågult landslaget zlatan allsvenskan vasaloppet
stockholm göteborg malmö uppsala västerås örebro linköping helsingborg jönköping norrköping lund
umeå gävle borås södertälje eskilstuna halmstad växjö karlstad sundsvall östersund trollhättan
luleå kalmar kristianstad skövde falun visby kiruna karlskrona nyköping uddevalla varberg
skåne halland blekinge gotland öland dalarna värmland norrbotten västerbotten jämtland lappland
småland uppland västmanland södermanland östergötland västergötland västra götaland bohuslän
dalsland närke hälsingland medelpad ångermanland härjedalen gästrikland norrland svealand götaland
sthlm gbg norden skandinavien europa
anna eva maria karin sara lena kerstin emma ingrid elin johanna linnea ida maja ella alice
wilma astrid elsa olivia ebba saga agnes freja klara stina lisa sofia julia hanna malin
lars erik karl johan anders per nils mikael jan hans peter olof lennart gunnar sven björn
oskar lucas william liam hugo elias noah adam filip axel ludvig nils emil viktor gustav
kalle pelle olle nisse lasse janne pekka bosse göran stefan thomas magnus fredrik daniel
pippi emil alfons bamse musse pigg kajsa knatte fnatte tjatte farbror joakim
korv bröd korvmedbröd korvbröd med kaffe fika te mjölk smör ost glass kanelbulle bulle kaka
sill potatis köttbullar falukorv surströmming kräftor lingon semla prinsesstårta
hund hunden katt katten häst hästen kanin fågel älg björn varg räv
hej hejsan hallå tack tjena tjabba älskar älskling kärlek jag du min mitt mina och
mamma pappa mormor morfar farmor farfar familj barn barnen vänner
sol solen måne stjärna himmel hav havet sjö sjön skog skogen blomma blommor
röd blå gul grön svart vit rosa lila orange
dator datorn jobbet jobb arbete kontor kontoret kommun kommunen region regionen
vård vården skola skolan sjukhus stuga sommarstuga hemma huset
bil bilen båt båten volvo saab ikea abba
"""


def _ascii(word: str) -> str:
    return word.replace("å", "a").replace("ä", "a").replace("ö", "o")


def _build() -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for word in _WORDS.split():
        seen.setdefault(word, None)
        seen.setdefault(_ascii(word), None)
    return tuple(seen)


SWEDISH_WORDS: tuple[str, ...] = _build()
