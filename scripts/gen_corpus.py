#!/usr/bin/env python3
"""Generates datasets/mptui-corpus.txt, mptui's built-in default training corpus.

It writes a made-up "workshop journal": numbered daily entries in which six workers talk in
short sentences about tools, parts, repairs and small projects, count parts in lists with
totals, and state simple arithmetic facts. Everything is produced here from a small grammar
over a vocabulary of a few hundred words (no third-party text), with a fixed seed, so the
file is the same on every machine. The point is a corpus that a tiny byte-level GPT (a few
layers, 128 wide, context 128) learns visibly within a couple of minutes on a laptop CPU:
the recurring structure (speaker names, entry headers, list syntax, true sums) gives the
loss plenty to fall on, while the random choices keep it from being memorised at once.

Usage: python3 scripts/gen_corpus.py [OUTPUT]   (default: datasets/mptui-corpus.txt)
"""
import os
import random
import sys

SEED = 20240520
TARGET_BYTES = 320_000

SPEAKERS = ["MARA", "OTTO", "LENA", "IVO", "RUTH", "SAM"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
WEATHER = ["rain", "sun", "wind", "fog", "snow", "clouds", "light rain", "a cold wind"]
NOUNS = ["lathe", "drill", "bench", "saw", "clamp", "kettle", "lamp", "gear", "spring",
         "bolt", "hinge", "wheel", "spindle", "chisel", "file", "hammer", "rope", "board",
         "pipe", "valve", "fan", "motor", "belt", "pulley", "crank", "lever", "shelf",
         "ladder", "bucket", "brush", "nail", "screw", "washer", "nut", "plank", "wire",
         "switch", "clock", "radio", "stove"]
PLURAL = {n: n + ("es" if n.endswith(("sh", "ch", "s", "x")) else "s") for n in NOUNS}
PLURAL["shelf"] = "shelves"
PARTS = ["bolt", "nut", "washer", "screw", "nail", "spring", "gear", "hinge", "wire",
         "belt", "valve", "pipe"]
ADJS = ["red", "blue", "green", "old", "new", "small", "large", "rusty", "clean", "loose",
        "heavy", "light", "bent", "warm", "cold", "quiet", "noisy", "sharp", "dull", "yellow"]
STATES = ["ready", "broken", "loose", "too warm", "fine again", "still noisy", "too tight",
          "clean now", "out of oil", "working", "in pieces", "half done"]
PLACES = ["on the blue shelf", "under the bench", "by the window", "in the back room",
          "near the door", "in the red box", "next to the stove", "on the top shelf",
          "behind the lathe", "in the tool chest"]
VERBS = [("fix", "fixed"), ("clean", "cleaned"), ("oil", "oiled"), ("paint", "painted"),
         ("measure", "measured"), ("check", "checked"), ("sand", "sanded"),
         ("tighten", "tightened"), ("move", "moved"), ("test", "tested"),
         ("sharpen", "sharpened"), ("polish", "polished"), ("weigh", "weighed"),
         ("open", "opened"), ("mend", "mended")]
PROJECTS = ["the garden gate", "the water pump", "the old cart", "the clock tower",
            "the bread oven", "the boat", "the front door", "the mill wheel", "the wind vane",
            "the school desk"]
TIMES = ["after lunch", "before noon", "this evening", "tomorrow", "right now", "on Friday",
         "after the tea", "first thing"]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                "nine", "ten", "eleven", "twelve"]


def plural(n, noun):
    return f"{n} {noun if n == 1 else PLURAL[noun]}"


def art(word):
    return ("an " if word[0] in "aeiou" else "a ") + word


class Journal:
    def __init__(self, rng):
        self.r = rng

    def pick(self, seq):
        return self.r.choice(seq)

    def two_speakers(self):
        a, b = self.r.sample(SPEAKERS, 2)
        return a, b

    def line_state(self, a, b):
        noun, adj = self.pick(NOUNS), self.pick(ADJS)
        return [f"{a}: The {adj} {noun} is {self.pick(STATES)}."]

    def line_request(self, a, b):
        (verb, _), noun, when = self.pick(VERBS), self.pick(NOUNS), self.pick(TIMES)
        reply = self.pick([f"Yes, I will {verb} the {noun} {when}.",
                           f"No, the {noun} can wait until {self.pick(WEEKDAYS)}.",
                           f"I can {verb} it {when}, but I need {art(self.pick(PARTS))}."])
        return [f"{a}: Can you {verb} the {noun}, {b}?", f"{b}: {reply}"]

    def line_done(self, a, b):
        (_, past), noun, place = self.pick(VERBS), self.pick(NOUNS), self.pick(PLACES)
        return [f"{a}: I {past} the {noun} and put it {place}."]

    def line_where(self, a, b):
        noun = self.pick(NOUNS)
        return [f"{a}: Where is the {self.pick(ADJS)} {noun}?",
                f"{b}: It is {self.pick(PLACES)}."]

    def line_need(self, a, b):
        n, part = self.r.randint(1, 12), self.pick(PARTS)
        return [f"{a}: We need {plural(n, part)} for {self.pick(PROJECTS)}."]

    def line_sum(self, a, b):
        x, y = self.r.randint(1, 12), self.r.randint(1, 12)
        op = self.r.randrange(3)
        if op == 0:
            fact = f"{x} plus {y} is {x + y}."
        elif op == 1:
            fact = f"{x} times {y} is {x * y}."
        else:
            x, y = max(x, y), min(x, y)
            fact = f"{x} minus {y} is {x - y}."
        return [f"{a}: {self.pick(['I counted.', 'Let me count.', 'Easy.', 'Check this.'])}"
                f" {fact}", f"{b}: {self.pick(['Right.', 'Yes, that is right.', 'Good.'])}"]

    def line_words(self, a, b):
        n = self.r.randint(1, 12)
        return [f"{a}: {NUMBER_WORDS[n].capitalize()} is written {n}."]

    def dialogue(self, k):
        kinds = [self.line_state, self.line_request, self.line_done, self.line_where,
                 self.line_need, self.line_sum, self.line_sum, self.line_words]
        out = []
        for _ in range(k):
            out += self.pick(kinds)(*self.two_speakers())
        return out

    def parts_list(self):
        items = self.r.sample(PARTS, self.r.randint(2, 5))
        counts = [self.r.randint(1, 9) for _ in items]
        lines = [f"Parts used for {self.pick(PROJECTS)}:"]
        lines += [f"- {plural(c, p)}" for c, p in zip(counts, items)]
        lines.append(f"Total: {sum(counts)} parts.")
        return lines

    def todo_list(self):
        lines = ["To do:"]
        for i in range(1, self.r.randint(3, 5) + 1):
            verb, _ = self.pick(VERBS)
            lines.append(f"{i}. {verb.capitalize()} the {self.pick(ADJS)} {self.pick(NOUNS)}.")
        return lines

    def entry(self, number, day):
        lines = [f"== Entry {number} ==",
                 f"Day {day}, {WEEKDAYS[(day - 1) % 6]}. Weather: {self.pick(WEATHER)}."]
        lines += self.dialogue(self.r.randint(3, 6))
        if self.r.random() < 0.6:
            lines += self.parts_list()
        if self.r.random() < 0.4:
            lines += self.todo_list()
        lines += self.dialogue(self.r.randint(1, 3))
        lines.append(f"Signed, {self.pick(SPEAKERS).capitalize()}.")
        return "\n".join(lines) + "\n\n"


def generate(seed=SEED, target=TARGET_BYTES):
    j = Journal(random.Random(seed))
    parts, size, number, day = ["The Workshop Journal\n\n"], 0, 1, 1
    while size < target:
        e = j.entry(number, day)
        parts.append(e)
        size += len(e)
        number += 1
        day += j.r.randint(0, 1)
    return "".join(parts)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "datasets",
                                                             "mptui-corpus.txt")
    text = generate()
    assert text.isascii()
    with open(out, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    print(f"wrote {out}: {len(text)} bytes")


if __name__ == "__main__":
    main()
