"""Hand-written seed examples and diversity attributes for the seed pipelines.

Everything here was written for Synthera (no text is copied from a dataset).
The seeds are few-shot examples, Self-Instruct style: each prompt shows two of
them, then asks for a new example on a topic, for a persona, that the
balancer picks so that every topic and persona gets its share.
"""

from __future__ import annotations

__all__ = ["CHARACTERS", "CHARACTER_SEEDS", "PERSONAS", "QA_SEEDS", "SCENARIOS", "SUMMARIZATION_SEEDS", "TOPICS"]

TOPICS = (
    "urban beekeeping",
    "tidal energy",
    "public libraries",
    "sleep and memory",
    "farming on volcanic soil",
    "bicycle commuting",
    "coral reef restoration",
    "remote work",
    "the history of maps",
    "fermented foods",
    "rooftop solar panels",
    "river flooding",
    "school lunches",
    "board games",
    "light pollution",
    "plastic recycling",
    "mountain rescue teams",
    "desert plants",
    "the printing press",
    "electric buses",
    "community gardens",
    "sea turtles",
    "household budgeting",
    "earthquake-safe buildings",
)

PERSONAS = (
    "a science journalist",
    "a high-school teacher",
    "a city council member",
    "a nurse",
    "a farmer",
    "a software engineer",
    "a museum guide",
    "a retired sailor",
    "a college student",
    "a small-business owner",
)

SUMMARIZATION_SEEDS = (
    {
        "topic": "urban beekeeping",
        "persona": "a city council member",
        "passage": (
            "Our city approved rooftop beehives two years ago, and the number of registered hives has since "
            "tripled. Keepers must take a short safety course and place hives at least three meters from "
            "walkways. Complaints have been rare: most came from neighbours who worried about stings, and "
            "inspectors found that nearly all of them concerned wasps rather than bees. The program now "
            "supplies free starter kits to schools that agree to care for a hive."
        ),
        "summary": (
            "Rooftop beehives tripled in two years under simple safety rules, complaints were few and mostly "
            "about wasps, and schools can now get free starter kits."
        ),
    },
    {
        "topic": "sleep and memory",
        "persona": "a science journalist",
        "passage": (
            "Researchers asked two groups of volunteers to learn a list of word pairs in the evening. One group "
            "slept normally, while the other stayed awake until the next afternoon. When tested, the rested "
            "group recalled about a fifth more pairs. Brain recordings suggested that during deep sleep the "
            "hippocampus replays recent experiences, helping move them into long-term storage. The authors "
            "warn that a single study cannot say how much sleep loss matters in daily life."
        ),
        "summary": (
            "Volunteers who slept after learning remembered about 20 percent more word pairs than those kept "
            "awake, likely because deep sleep replays new memories, though the authors urge caution."
        ),
    },
    {
        "topic": "electric buses",
        "persona": "a software engineer",
        "passage": (
            "Last spring the transit agency replaced forty diesel buses with electric ones. Drivers say the "
            "new buses are quieter and accelerate smoothly, but winter tested the batteries: on the coldest "
            "days, range dropped by almost a third. The agency responded by adding fast chargers at two "
            "terminals and adjusting schedules so that buses top up during layovers. Maintenance costs so far "
            "are lower than expected because electric motors have fewer moving parts."
        ),
        "summary": (
            "Forty new electric buses run quietly and cost less to maintain, but cold weather cut their range "
            "by nearly a third, so the agency added chargers and changed schedules."
        ),
    },
    {
        "topic": "fermented foods",
        "persona": "a high-school teacher",
        "passage": (
            "Fermentation happens when microbes such as yeast and bacteria break down sugars without much "
            "oxygen. People have used it for thousands of years to preserve food: cabbage becomes sauerkraut, "
            "milk becomes yogurt, and grape juice becomes wine. The acids or alcohol produced by the microbes "
            "stop harmful organisms from growing. In class, students can watch the process by sealing "
            "shredded cabbage with salt in a jar and tasting it after a week."
        ),
        "summary": (
            "Fermentation uses microbes to turn sugars into acids or alcohol, an old way to preserve foods like "
            "sauerkraut and yogurt that students can try with cabbage in a jar."
        ),
    },
    {
        "topic": "river flooding",
        "persona": "a farmer",
        "passage": (
            "The river left its banks three times this decade, and each time my lower fields stayed under "
            "water for more than a week. After the last flood our cooperative planted willow strips along the "
            "bank and restored an old wetland upstream that can hold excess water. This year's heavy rain "
            "raised the river again, but the water drained within two days and we lost only a small part of "
            "the wheat crop."
        ),
        "summary": (
            "After repeated floods, the cooperative planted willows and restored a wetland, and this year's "
            "high water drained in two days with little crop loss."
        ),
    },
    {
        "topic": "the printing press",
        "persona": "a museum guide",
        "passage": (
            "Before movable type reached Europe in the fifteenth century, most books were copied by hand, and "
            "a single Bible could take a scribe more than a year. Printing shops could produce hundreds of "
            "copies in the same time. Prices fell, more people learned to read, and ideas travelled faster "
            "between cities. The press in this room is a reconstruction; notice the screw mechanism, borrowed "
            "from the wine and olive presses of the time."
        ),
        "summary": (
            "Movable-type printing replaced slow hand copying, making books cheaper, spreading literacy and "
            "ideas, and its screw mechanism came from wine and olive presses."
        ),
    },
)

QA_SEEDS = (
    {
        "topic": "sea turtles",
        "persona": "a college student",
        "passage": (
            "Female sea turtles return to lay eggs on the beach where they hatched, sometimes after travelling "
            "thousands of kilometres. The temperature of the sand decides the sex of the hatchlings: warmer "
            "nests produce more females. Volunteers on our coast mark nests with stakes so that they are not "
            "disturbed by beach cleaning machines."
        ),
        "question": "What decides whether sea turtle hatchlings are male or female?",
        "answer": "The temperature of the sand in the nest; warmer nests produce more females.",
    },
    {
        "topic": "public libraries",
        "persona": "a small-business owner",
        "passage": (
            "The central library opened a business corner last year. It offers free access to market research "
            "databases, a 3D printer that can be booked for two hours at a time, and monthly workshops on "
            "bookkeeping. Members need only a regular library card to use the services."
        ),
        "question": "How long can the 3D printer in the business corner be booked for?",
        "answer": "Two hours at a time.",
    },
    {
        "topic": "desert plants",
        "persona": "a high-school teacher",
        "passage": (
            "Many desert plants open their pores only at night, when the air is cooler and less water "
            "evaporates. They store the carbon dioxide they take in as an acid and use it for photosynthesis "
            "during the day. Cacti also have thick waxy skins and spines instead of leaves, which further "
            "reduce water loss."
        ),
        "question": "Why do many desert plants open their pores at night?",
        "answer": "Because the air is cooler at night, so less water evaporates.",
    },
    {
        "topic": "mountain rescue teams",
        "persona": "a nurse",
        "passage": (
            "Our mountain rescue team has twenty-two volunteers, and at least four are on call every weekend. "
            "Most callouts involve walkers with ankle injuries or people who are lost in fog. Every member "
            "completes a first-aid course each year, and we train with the helicopter crew twice a season."
        ),
        "question": "How often does the team train with the helicopter crew?",
        "answer": "Twice a season.",
    },
    {
        "topic": "household budgeting",
        "persona": "a retired sailor",
        "passage": (
            "At sea I learned to keep a log of every supply we used, and I do the same with money now. Each "
            "Sunday I write down what I spent during the week in three columns: food, home and everything "
            "else. If the last column grows larger than the other two together, I know it is time to cut back."
        ),
        "question": "What three columns does the writer use to track weekly spending?",
        "answer": "Food, home and everything else.",
    },
    {
        "topic": "light pollution",
        "persona": "a science journalist",
        "passage": (
            "Satellite images show that the area of the planet lit at night grew by about two percent a year "
            "over the last decade. Bright skies confuse migrating birds and hide all but the brightest stars "
            "from city dwellers. Some towns now require shielded street lamps that point light downward."
        ),
        "question": "What do some towns now require to reduce light pollution?",
        "answer": "Shielded street lamps that point light downward.",
    },
)

CHARACTERS = (
    {
        "name": "Captain Mara Voss",
        "description": "a weary but kind starship pilot who has flown cargo between moons for thirty years and "
                       "speaks in short, practical sentences",
    },
    {
        "name": "Professor Ellis Quill",
        "description": "an absent-minded botanist who loves rare ferns, explains everything with garden "
                       "metaphors and often forgets where he left his glasses",
    },
    {
        "name": "Juno",
        "description": "a cheerful robot barista in a busy train station who remembers every customer's order "
                       "and likes to share small facts about coffee",
    },
    {
        "name": "Grandma Ines",
        "description": "a retired baker from a fishing village who answers with warmth, old proverbs and "
                       "the occasional recipe tip",
    },
    {
        "name": "Detective Rowan Hale",
        "description": "a calm, observant city detective who notices small details and asks careful "
                       "questions before drawing conclusions",
    },
    {
        "name": "Sir Bramble",
        "description": "a proud but polite talking hedgehog knight who guards a forest bridge and speaks in "
                       "old-fashioned, courteous language",
    },
    {
        "name": "Coach Dana Reyes",
        "description": "an energetic youth football coach who keeps things positive, practical and focused "
                       "on teamwork",
    },
    {
        "name": "Archivist Theo Lark",
        "description": "a quiet librarian of an ancient archive who is precise about dates and delighted by "
                       "forgotten stories",
    },
)

SCENARIOS = (
    "asking for advice",
    "sharing good news",
    "complaining about a problem",
    "asking about the character's past",
    "asking for a recommendation",
    "asking for help with a plan",
)

CHARACTER_SEEDS = (
    {
        "character": "Captain Mara Voss",
        "scenario": "asking for advice",
        "user": "I'm starting my first job next week and I'm nervous. How do you stay calm before a long trip?",
        "reply": "Check your list, then check it again. Nerves mean you care; that's fine. Eat before you go, "
                 "learn one name on the crew each day, and ask questions early. The first week of any run is "
                 "the hardest.",
    },
    {
        "character": "Professor Ellis Quill",
        "scenario": "asking for a recommendation",
        "user": "Which houseplant should I get if I keep forgetting to water things?",
        "reply": "Ah, a kindred spirit! Try a snake plant; it is the cactus of the living room. Like a good "
                 "idea, it grows best when you leave it alone for a while. Now, where did I put my glasses?",
    },
    {
        "character": "Juno",
        "scenario": "sharing good news",
        "user": "I passed my driving test this morning!",
        "reply": "Congratulations! That calls for your usual oat latte, on the house today. Fun fact: coffee "
                 "beans are really seeds from a cherry-like fruit. Drive safely out there!",
    },
    {
        "character": "Grandma Ines",
        "scenario": "complaining about a problem",
        "user": "My bread never rises properly and I don't know why.",
        "reply": "Oh, my dear, patience is the best yeast. Is your kitchen cold? Let the dough rest somewhere "
                 "warm, like beside the oven, and give it an extra hour. As we said in the village, the sea "
                 "does not hurry and still reaches the shore.",
    },
    {
        "character": "Detective Rowan Hale",
        "scenario": "asking for help with a plan",
        "user": "Someone keeps taking my lunch from the office fridge. How do I find out who it is?",
        "reply": "Start with the facts. Which days does it vanish, and who is in the office on those days? "
                 "Label the box with the date and note the time you leave it. Patterns tell you more than "
                 "accusations do.",
    },
    {
        "character": "Sir Bramble",
        "scenario": "asking about the character's past",
        "user": "How did you become the guardian of this bridge?",
        "reply": "Good traveller, I earned this post when the spring floods came and I kept the old bridge "
                 "clear of branches for three days and nights. The forest folk named me its knight, and I "
                 "have guarded it with honour ever since.",
    },
)
