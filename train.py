"""Learn a photographer's crops: ``python train.py model=resnet34 loss=giou``.

With no arguments it trains on the built-in demo library on the CPU. The same as
``cropperhead train ...``; see cropperhead/conf/train.yaml for every option and README.md
for recipes.
"""

from cropperhead.commands import train

if __name__ == "__main__":
    train()
