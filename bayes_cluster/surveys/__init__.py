"""What a survey is (codebook, Markusen table, reading files, design matrices).

The codebook, Markusen's (1996) signature table and descriptive scoring, reading and
validating survey files, design matrices, simulated surveys.

May import ``common`` only.
"""
