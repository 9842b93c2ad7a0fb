"""Compact word lists for the synthetic corpus (real English stems; forms come from
:mod:`probekit.data.synthetic.lexicon`).

Notation: a verb is ``base`` or ``base/past/participle`` when irregular; a trailing ``+`` doubles
the final consonant (``stop+`` -> stopped, stopping). An adjective with a trailing ``*`` also
yields an ``-ly`` adverb. Lists are ordered roughly by everyday frequency: the sampler gives
earlier words more weight (Zipf), so order matters.
"""

# --- nouns ------------------------------------------------------------------------------
PERSON = """teacher patient cook doctor official guide student expert judge friend coach adult man
woman child lawyer driver manager officer worker
artist writer nurse farmer engineer neighbor customer player singer chef pilot scientist
journalist reporter police_officer soldier judge actor dancer baker banker clerk coach cook
designer director editor guard guide host hunter king queen leader mayor minister musician
owner painter patient poet president priest prince princess professor programmer sailor
secretary senator speaker stranger surgeon tailor tourist trainer traveler visitor waiter
waitress witness boss brother sister mother father uncle aunt cousin husband wife son daughter
grandmother grandfather baby boy girl kid adult teenager volunteer citizen resident passenger
athlete captain colleague partner assistant expert researcher analyst architect carpenter
plumber electrician mechanic cashier librarian photographer pharmacist dentist veterinarian
firefighter detective accountant consultant economist historian novelist philosopher
politician student_teacher tutor lecturer principal janitor gardener fisherman shepherd
merchant vendor buyer seller tenant landlord employer employee client agent broker candidate
voter spokesperson diplomat ambassador astronaut biologist chemist physicist mathematician
"""

THING = """book watch light phone painting paint drawing car letter table chair door window box
bag key bottle cup
plate glass ball picture computer camera bike bottle_cap lamp bed desk clock watch ring shirt coat
hat shoe jacket dress umbrella ticket map card gift toy pen pencil paper notebook magazine
newspaper package envelope bowl knife fork spoon pot pan oven fridge stove sofa couch mirror
carpet curtain blanket pillow towel brush comb wallet purse coin bill receipt basket bucket
ladder hammer nail screw rope wire cable battery charger laptop tablet screen keyboard mouse
printer loudspeaker radio television guitar piano violin drum flute trumpet painting photo poster
sign flag bench fence gate wall roof floor stair bridge boat ship train bus truck plane
rocket tool machine engine wheel tire helmet glove sock scarf belt button candle match stone
rock brick log branch leaf flower plant tree seed apple orange banana bread cake cookie
sandwich pizza soup salad cheese egg sugar coffee tea juice milk water wine beer bottle_opener
jar can tray cart trophy medal statue vase frame shelf drawer cabinet closet suitcase backpack
tent kite sword shield crown coin_purse diary album record file folder report contract form
invoice document draft manual guidebook recipe menu brochure calendar schedule
"""

PLACE = """park shop building store office kitchen garden school library hospital station
airport market store
shop restaurant cafe hotel museum church bank theater cinema stadium gym beach forest river
lake mountain village city town street road square harbor port farm factory warehouse
studio lab classroom hall lobby basement attic garage yard field island valley desert bay
bakery pharmacy clinic court prison embassy castle palace tower temple zoo mall campus
"""

ABSTRACT = """plan work change answer idea problem question order decision story reason result
plan_b rule law chance choice effort fact goal hope issue lesson method mistake news opinion order
policy price process project promise proposal reform request risk secret solution strategy
system theory topic truth value view vision warning wish agreement argument budget
campaign challenge conclusion condition crisis debate demand detail evidence experience
explanation feature focus impact interest knowledge message offer option outcome pattern
performance plan_a principle priority purpose quality rate response role standard statement
success task trend version walk rest
"""

TIME_NOUNS = """morning afternoon evening night weekend week month year day summer winter
spring autumn holiday meeting lunch dinner breakfast party game concert conference trip
"""

# --- verbs (argument frames) ------------------------------------------------------------
# TRANS: person acts on a thing.
V_TRANS = """book have/had/had watch light/lit/lit do/did/done cook paint park order clean open
plan+ buy/bought/bought sell/sold/sold build/built/built close find/found/found
take/took/taken make/made/made bring/brought/brought carry clean fix check read/read/read
write/wrote/written paint cook wash move keep/kept/kept use need want like choose/chose/chosen
order pick drop+ break/broke/broken lose/lost/lost hold/held/held prepare design produce
repair replace deliver collect share print sign test watch book light/lit/lit wrap+ fill
empty borrow steal/stole/stolen hide/hid/hidden study examine inspect measure weigh polish
return rent pack load unload lift raise lower push pull throw/threw/thrown catch/caught/caught
finish start+ plan+ record copy count sort store paint_over deliver_back describe mention
review edit update publish translate download upload install remove cut/cut/cut+ burn
"""
# PERS: person acts on a person.
V_PERS = """meet/met/met phone guide judge coach help call visit thank invite hire
tell/told/told follow contact
warn support train interview greet join marry criticize praise trust blame admire recognize
teach/taught/taught protect rescue arrest accuse advise congratulate encourage remind
introduce interrupt ignore forgive/forgave/forgiven fire hug kiss pay/paid/paid phone
question serve thank_again welcome represent replace_later defend
"""
# ANY: anyone or anything can be the doer (used by the who-did-what task).
V_ANY = """hit/hit/hit+ push pull touch strike/struck/struck block catch/caught/caught kick crush
damage cover surprise hurt/hurt/hurt chase reach annoy please amuse worry frighten impress
confuse bother shock scare distract disturb wake/woke/woken hold/held/held knock bump+ scratch
"""
V_INTRANS = """work walk shop rest arrive leave/left/left sleep/slept/slept laugh smile wait
run/ran/run+
travel sit/sat/sat+ stand/stood/stood speak/spoke/spoken cry swim/swam/swum+ dance sing/sang/sung
return agree complain relax rest shout whisper jump play listen hurry fall/fell/fallen
stay pray vote cheer sneeze cough yawn shop+ jog+ hike ski retire graduate wander
"""
# XCOMP: person wants/tries ... to do something (subject control: "to" is an infinitive marker).
V_XCOMP = """want try need decide plan+ hope agree refuse promise expect start+ begin/began/begun+
fail learn forget/forgot/forgotten+ manage prefer+ offer
"""
# MOTION: person goes somewhere ("to" + place is the goal).
V_MOTION = """go/went/gone walk drive/drove/driven travel move return hurry fly/flew/flown
ride/rode/ridden come/came/come run/ran/run+ swim/swam/swum+
"""
# ORG: only organisations do these (what decides that a bare name such as "Jordan" is a company).
V_ORG = """acquire fund launch manufacture recall export import finance distribute advertise
"""
V_ORG_PERS = """hire employ recruit dismiss
"""
# ALT: the causative alternation: "the boy broke the window" (subject = ARG0) but "the window
# broke" (subject = ARG1): the verb and the clause, not the noun, decide the role.
V_ALT = """break/broke/broken+ open close move change start+ stop+ melt burn drop+ roll turn
crack shake/shook/shaken+ bend/bent/bent
"""
V_DITRANS = """give/gave/given send/sent/sent show/showed/shown offer lend/lent/lent hand pass
mail throw/threw/thrown promise award owe sell/sold/sold bring/brought/brought
"""
V_CLAUSAL = """say/said/said think/thought/thought believe know/knew/known claim report
suggest explain argue notice realize remember hope feel/felt/felt announce admit+ confirm
deny discover doubt expect fear guess hear/heard/heard learn mention predict prove reveal
assume conclude decide insist suspect imagine
"""

# --- adjectives / adverbs ---------------------------------------------------------------
ADJ = """new* light hard patient* clean closed late official* open* old expert used good early big
tired adult small fast empty
large* long short high* great* little young important*
different* early late* hard public* bad real* strong* easy* clear* local* free* full*
special* red blue green yellow black white brown dark warm* cold* hot quiet* loud* bright*
clean heavy* light soft* sharp* smooth* rough* fresh* sweet* bitter* rich poor* happy* sad*
angry* tired busy* lucky* calm* brave* kind* proud* shy* honest* polite* rude* careful*
careless* curious* famous friendly gentle* nervous* patient* serious* simple strange*
strict* tall thin thick* wide* narrow* deep* flat* round modern ancient empty dry wet
wooden plastic metal broken expensive cheap* beautiful* ugly pretty* nice* lovely wonderful*
terrible* awful* perfect* fine huge tiny basic* central* common final* formal* general*
human* main natural* normal* official* open* personal* private* recent* regular* rare* safe*
secret* similar* social* specific* sudden* total* typical* usual* useful* visible* wild*
foreign popular short_lived obvious* certain* complete* correct* direct* exact* fair*
"""
# Adverbs with the form of an adjective ("worked hard", "arrived late"): manner adverbs first.
FLAT_ADV = "hard fast late early"
ADV = """quickly slowly often always sometimes usually yesterday today soon later already
still really very quite almost nearly rather also again once finally suddenly recently
"""
# Review polarity (sentiment task); both lists get -ly adverbs where natural.
POS_ADJ = """good great excellent amazing wonderful fantastic perfect superb brilliant
outstanding lovely pleasant impressive reliable solid sturdy comfortable smooth fast
responsive bright clear crisp elegant stylish useful helpful friendly efficient durable
affordable generous delightful charming flawless fabulous terrific awesome remarkable
satisfying enjoyable intuitive convenient spacious quiet powerful accurate gorgeous
"""
NEG_ADJ = """bad terrible awful horrible poor disappointing mediocre useless flimsy cheap
uncomfortable slow noisy dull blurry clumsy fragile unreliable broken faulty defective
annoying frustrating confusing boring ugly overpriced rude unhelpful inefficient weak
dreadful pathetic shoddy sloppy lousy tedious unpleasant inaccurate sluggish buggy greasy
cramped stale bland flawed inferior clunky
"""
POS_VERB = "love like enjoy recommend appreciate adore praise prefer admire trust"
NEG_VERB = "hate dislike regret avoid distrust resent return_ask criticize doubt_about despise"

# --- names (entities) ------------------------------------------------------------------
MALE = """James John Robert Michael William David Richard Joseph Thomas Charles Daniel
Matthew Anthony Mark Paul Steven Andrew Kenneth Joshua Kevin Brian George Edward Ronald
Timothy Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott
Brandon Benjamin Samuel Frank Gregory Raymond Patrick Alexander Jack Dennis Jerry Tyler Aaron
Henry Adam Douglas Nathan Peter Zachary Kyle Walter Harold Carl Arthur Roger Omar Luis Ahmed
Hiroshi Ivan Pierre"""
FEMALE = """Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa
Betty Margaret Sandra Ashley Kimberly Emily Donna Michelle Dorothy Carol Amanda Melissa
Deborah Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy Shirley Angela Helen Anna Brenda
Pamela Nicole Emma Samantha Katherine Christine Debra Rachel Catherine Carolyn Janet Ruth
Maria Heather Diane Julie Joyce Olivia Kelly Christina Lauren Joan Evelyn
Judith Megan Fatima Yuki Sofia Ingrid Chloe"""
LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez
Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Martin Lee Perez Thompson White
Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen
Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez
Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy
Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward
Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez
Castillo Sanders Patel Myers Long Ross Foster Jimenez Chen Wang Singh Novak Schmidt Tanaka"""
# Names that are a person's, a company's and a place's alike (and in no other list): only the
# context decides the entity type ("Jordan smiled" PER, "Jordan acquired the factory" ORG, "in
# Jordan" LOC, "went to Jordan" LOC but "gave it to Jordan" PER).
AMBIG_MALE = """Jordan Austin Lincoln Jackson Dallas Houston Warren Marshall Troy Chad Denver
Orlando Cleveland Jefferson Wellington"""
AMBIG_FEMALE = """Georgia Victoria Florence Sydney Chelsea Madison Paris Virginia Adelaide
Savannah Charlotte Aurora Regina Alexandria Odessa"""
ORG_HEAD = """Northfield Atlas Summit Pioneer Horizon Riverside Global United National Central
Evergreen Silverline Bluewater Redwood Granite Meridian Beacon Crescent Liberty Sterling
Vertex Harbor Apex Orion Keystone Lakeside Westbrook Eastgate Highland Oakwood Pinecrest
Stonebridge Clearview Brightstar Ironwood Goldfield Fairview Maplewood Cedar Ashford"""
ORG_TAIL = """Bank Group Corporation Institute University Hospital Foundation Press Systems
Labs Company Partners Council Agency Museum College Airlines Motors Studios Holdings"""
CITIES = """London Berlin Madrid Rome Vienna Prague Warsaw Dublin Lisbon Athens Oslo
Stockholm Helsinki Tokyo Beijing Delhi Mumbai Cairo Lagos Nairobi Melbourne Toronto
Chicago Boston Seattle Atlanta Miami Phoenix Portland Detroit Montreal
Vancouver Mexico_City New_York Los_Angeles San_Francisco San_Diego New_Orleans Las_Vegas
Hong_Kong Buenos_Aires Rio_de_Janeiro Cape_Town Tel_Aviv Kuala_Lumpur"""
COUNTRIES = """France Germany Spain Italy Japan China India Brazil Canada Mexico Egypt Kenya
Nigeria Australia Norway Sweden Poland Greece Ireland Portugal Turkey Chile Peru Argentina
Vietnam Thailand Indonesia Morocco New_Zealand South_Africa"""

# --- domain-specific vocabulary ---------------------------------------------------------
BIOMED = dict(
    PERSON="""patient researcher clinician physician investigator participant subject
    volunteer oncologist pathologist surgeon nurse donor pediatrician epidemiologist""",
    THING="""protein gene cell sample tumor receptor enzyme antibody mutation compound drug
    dose tissue biopsy culture plasmid vector inhibitor ligand pathway marker biomarker
    transcript peptide membrane nucleus mitochondrion sequence variant mouse_model assay
    vaccine serum lesion fibroblast neuron macrophage lymphocyte kinase cytokine hormone""",
    ABSTRACT="""expression activity level response treatment therapy outcome survival risk
    proliferation apoptosis migration invasion inflammation infection toxicity efficacy
    resistance signaling regulation phosphorylation metabolism differentiation growth
    progression recurrence diagnosis prognosis incidence mortality knockdown overexpression
    deletion silencing depletion knockout amplification induction loss upregulation activation
    stabilization inhibition ablation disruption downregulation""",
    PLACE="clinic ward laboratory hospital cohort trial center",
    ADJ="""clinical cellular molecular genetic significant* elevated reduced chronic acute
    malignant benign metastatic primary secondary systemic local* novel potent* selective*
    transient* stable* mutant recombinant endogenous human murine""",
    V_TRANS="""inhibit activate induce express bind/bound/bound regulate suppress enhance
    reduce increase block detect measure analyze sequence isolate identify characterize
    stimulate target modulate attenuate promote impair decrease elevate diminish lower abolish
    augment boost raise upregulate downregulate potentiate amplify accelerate trigger strengthen
    restore repress abrogate dampen blunt weaken hinder prevent""",
    V_CLAUSAL="suggest indicate demonstrate show/showed/shown reveal confirm hypothesize",
)
LEGAL = dict(
    PERSON="""tenant landlord buyer seller licensee licensor lessee lessor contractor
    subcontractor party employer employee plaintiff defendant claimant respondent trustee
    beneficiary guarantor borrower lender vendor purchaser assignee agent arbitrator""",
    THING="""agreement contract premises property notice payment fee deposit invoice
    clause provision schedule document certificate license lease deed warranty policy
    account goods equipment consideration amendment exhibit""",
    ABSTRACT="""obligation right liability breach termination indemnity damages dispute
    jurisdiction consent approval default remedy term condition compliance confidentiality
    arbitration negligence claim interest""",
    PLACE="court tribunal premises office registry jurisdiction",
    ADJ="""applicable reasonable* material* written prior* due* effective* binding lawful*
    mutual* sole* exclusive* confidential* liable entitled subject valid invalid void
    statutory contractual governing""",
    V_TRANS="""terminate pay/paid/paid deliver indemnify assign transfer disclose waive
    execute amend breach notify perform provide maintain comply_with repair insure
    sublet+ renew approve reimburse""",
    V_CLAUSAL="acknowledge agree warrant represent certify confirm",
)
REVIEWS = dict(
    PERSON="""customer seller staff reviewer owner manager waiter driver buyer user""",
    THING="""product battery screen camera phone laptop charger case headphones soundbar
    keyboard app software blender vacuum mattress jacket shoe bag watch printer router
    tablet lens strap cable kettle toaster fan heater chair desk""",
    ABSTRACT="""quality price service delivery design size color sound performance value
    packaging warranty shipping support experience purchase order refund fit""",
    PLACE="store shop website restaurant hotel",
    ADJ="""overall cheap* sturdy expensive compact portable wireless lightweight""",
    V_TRANS="""order buy/bought/bought return use charge ship+ replace recommend test""",
    V_CLAUSAL="think/thought/thought feel/felt/felt expect hope",
)
DOMAIN_WORDS = {"biomed": BIOMED, "legal": LEGAL, "reviews": REVIEWS}

# Gene symbols for biomed (PROPN, no entity label): built from these parts.
GENE_STEMS = """BRC TP KR MAP CD IL TNF EGF VEG SMA STA JAK AKT MYC RAS BCL CDK FOX SOX HOX WNT
NOT GAT PAX RUN KLF NFK ERB PTE MDM ATM CHK RAD"""

# Legal deontic expressions: (words, kind) with kind "oblig" | "perm"; "strong" ones negate to
# a prohibition ("shall not"), "weak" ones negate to a permission ("is not required to").
LEGAL_MODALS = (
    ("shall", "oblig", "strong"), ("must", "oblig", "strong"),
    ("is required to", "oblig", "weak"), ("is obliged to", "oblig", "weak"),
    ("is obligated to", "oblig", "weak"), ("has a duty to", "oblig", "weak"),
    ("may", "perm", "strong"), ("is entitled to", "perm", "strong"),
    ("is permitted to", "perm", "strong"), ("is allowed to", "perm", "strong"),
    ("has the right to", "perm", "strong"), ("is authorized to", "perm", "strong"),
)

# Closed-class words the grammar emits (pseudo-languages spell them once, in this order).
FUNCTION_WORDS = """the a this these some I we he her him she it them they who that which not
will shall may must be been being is are am was were has have do does did and but or in at near
behind outside inside with from on of about for to by because when after before although if
while unless whereas yesterday today recently later soon last during very really quite extremely
so rather those required obliged obligated entitled permitted allowed authorized duty right
leading"""
