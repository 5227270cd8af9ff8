"""Asks for the number of epochs on stdin before training."""

epochs = int(input("epochs? "))
print(epochs)
