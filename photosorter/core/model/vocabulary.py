"""Everyday visual concepts: what a photo could be, besides the user's categories.

The classifier asks how well the best category fits a photo compared with the best of
these words (see `classifier.classify`): a photo of a cake, with categories only for
dogs and beaches, matches "cake" far better than any category and stays Uncategorized.
The list needs breadth, not precision: colours, shapes, the common things, places and
documents that fill a photo library. Each word is encoded once per model and cached.
"""

from __future__ import annotations

VOCABULARY_TEMPLATE = "a photo of {}."

VOCABULARY: tuple[str, ...] = (
    # colours and shapes
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white",
    "grey", "circle", "square", "triangle", "star", "heart", "line", "pattern", "texture",
    # people
    "a person", "a man", "a woman", "a child", "a baby", "a group of people", "a face",
    "a crowd", "a wedding", "a party", "a hand",
    # animals
    "a dog", "a cat", "a bird", "a horse", "a fish", "an insect", "a cow", "a sheep",
    "a wild animal", "a pet",
    # food and drink
    "food", "a meal", "a cake", "fruit", "vegetables", "a drink", "coffee", "bread",
    # places and scenes
    "a beach", "the sea", "a lake", "a river", "a mountain", "a forest", "a field",
    "a garden", "a park", "a city", "a street", "a building", "a house", "a room",
    "a kitchen", "an office", "a shop", "a church", "a bridge", "the sky", "clouds",
    "a sunset", "snow", "the night", "a road", "a desert", "an airport", "a stadium",
    # things
    "a car", "a bicycle", "a bus", "a train", "a plane", "a boat", "a tree", "a flower",
    "a plant", "grass", "a table", "a chair", "a bed", "a sofa", "a window", "a door",
    "a computer", "a phone", "a screen", "a book", "a toy", "a ball", "clothes", "shoes",
    "a bag", "a bottle", "a cup", "a tool", "a machine", "furniture", "jewellery",
    "a painting", "a statue", "a sign", "a flag", "a lamp", "a clock", "a camera",
    # documents and pictures of pictures
    "a document", "a receipt", "a screenshot", "text", "a map", "a chart", "a drawing",
    "a cartoon", "a logo", "a ticket", "handwriting", "a diagram",
    # activities
    "sport", "a game", "a concert", "a holiday", "travel", "work", "cooking", "art",
)  # fmt: skip
