"""Compact PyTorch modules for the bench models that torchvision lacks.

Each follows the published architecture layer for layer (channel widths,
kernel sizes, norms, activations), because the bench measures what a user's
model of that name costs; nothing here is trained. All are written to pass
torch.jit.script so the bench serves them as scripted TorchScript.
"""

from typing import List, Tuple

import torch
from torch import nn
import torch.nn.functional as F


# --- DCGAN generator (Radford et al. 2015; the pytorch/examples dcgan) ------


class DCGANGenerator(nn.Module):
    """z (N x 100 x 1 x 1) -> image (N x 3 x 64 x 64)."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


# --- StarGAN generator (Choi et al. 2018; yunjey/stargan model.py) ----------


class StarGANResidualBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            nn.InstanceNorm2d(dim, affine=True, track_running_stats=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            nn.InstanceNorm2d(dim, affine=True, track_running_stats=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


class StarGANGenerator(nn.Module):
    """(image N x 3 x H x W, domain label N x c_dim) -> image N x 3 x H x W.

    The label is tiled over the image and concatenated as extra channels;
    two stride-2 convs down, six residual blocks, two deconvs up.
    """

    def __init__(self, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6):
        super().__init__()
        layers: List[nn.Module] = [
            nn.Conv2d(3 + c_dim, conv_dim, 7, 1, 3, bias=False),
            nn.InstanceNorm2d(conv_dim, affine=True, track_running_stats=True),
            nn.ReLU(inplace=True),
        ]
        curr = conv_dim
        for _ in range(2):
            layers += [
                nn.Conv2d(curr, curr * 2, 4, 2, 1, bias=False),
                nn.InstanceNorm2d(curr * 2, affine=True, track_running_stats=True),
                nn.ReLU(inplace=True),
            ]
            curr *= 2
        for _ in range(repeat_num):
            layers.append(StarGANResidualBlock(curr))
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(curr, curr // 2, 4, 2, 1, bias=False),
                nn.InstanceNorm2d(curr // 2, affine=True, track_running_stats=True),
                nn.ReLU(inplace=True),
            ]
            curr //= 2
        layers += [nn.Conv2d(curr, 3, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        c = c.view(c.size(0), c.size(1), 1, 1)
        c = c.repeat(1, 1, x.size(2), x.size(3))
        x = torch.cat([x, c], dim=1)
        return self.main(x)


# --- SRGAN generator, i.e. SRResNet (Ledig et al. 2017) ---------------------


class SRResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.prelu(self.bn1(self.conv1(x)))
        return x + self.bn2(self.conv2(y))


class SRUpsampleBlock(nn.Module):
    """conv to 4x channels, pixel shuffle x2, PReLU."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * 4, 3, 1, 1)
        self.shuffle = nn.PixelShuffle(2)
        self.prelu = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.shuffle(self.conv(x)))


class SRResNet(nn.Module):
    """x4 super-resolution: N x 3 x H x W -> N x 3 x 4H x 4W."""

    def __init__(self, channels: int = 64, blocks: int = 16):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(3, channels, 9, 1, 4), nn.PReLU())
        self.body = nn.Sequential(*[SRResidualBlock(channels) for _ in range(blocks)])
        self.body_tail = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1), nn.BatchNorm2d(channels)
        )
        self.upsample = nn.Sequential(SRUpsampleBlock(channels), SRUpsampleBlock(channels))
        self.tail = nn.Conv2d(channels, 3, 9, 1, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.head(x)
        x = head + self.body_tail(self.body(head))
        x = self.upsample(x)
        return torch.tanh(self.tail(x))


# --- YOLOv3: Darknet-53 backbone and three detection heads (Redmon 2018) ----


class ConvBNLeaky(nn.Module):
    """Darknet's 'convolutional' layer: conv without bias, BN, leaky ReLU 0.1."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class DarknetResidual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvBNLeaky(channels, channels // 2, 1)
        self.conv2 = ConvBNLeaky(channels // 2, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


def _darknet_stage(cin: int, cout: int, blocks: int) -> nn.Sequential:
    layers: List[nn.Module] = [ConvBNLeaky(cin, cout, 3, 2)]
    layers += [DarknetResidual(cout) for _ in range(blocks)]
    return nn.Sequential(*layers)


class Darknet53(nn.Module):
    """Returns the stride-8, -16 and -32 feature maps (256, 512, 1024 ch)."""

    def __init__(self):
        super().__init__()
        self.stem = ConvBNLeaky(3, 32, 3)
        self.stage1 = _darknet_stage(32, 64, 1)
        self.stage2 = _darknet_stage(64, 128, 2)
        self.stage3 = _darknet_stage(128, 256, 8)
        self.stage4 = _darknet_stage(256, 512, 8)
        self.stage5 = _darknet_stage(512, 1024, 4)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.stage2(self.stage1(self.stem(x)))
        c3 = self.stage3(x)
        c4 = self.stage4(c3)
        c5 = self.stage5(c4)
        return c3, c4, c5


class YoloHead(nn.Module):
    """Five alternating 1x1/3x3 convs (the branch point), then 3x3 + 1x1 out."""

    def __init__(self, cin: int, mid: int, outputs: int):
        super().__init__()
        self.body = nn.Sequential(
            ConvBNLeaky(cin, mid, 1),
            ConvBNLeaky(mid, mid * 2, 3),
            ConvBNLeaky(mid * 2, mid, 1),
            ConvBNLeaky(mid, mid * 2, 3),
            ConvBNLeaky(mid * 2, mid, 1),
        )
        self.out = nn.Sequential(ConvBNLeaky(mid, mid * 2, 3), nn.Conv2d(mid * 2, outputs, 1))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        branch = self.body(x)
        return branch, self.out(branch)


class YOLOv3(nn.Module):
    """N x 3 x H x W -> three raw detection maps (stride 32, 16, 8), each
    N x (anchors * (5 + classes)) x H/s x W/s; decoding and NMS are left to
    the caller, as in a served model."""

    def __init__(self, num_classes: int = 80, anchors: int = 3):
        super().__init__()
        outputs = anchors * (5 + num_classes)
        self.backbone = Darknet53()
        self.head1 = YoloHead(1024, 512, outputs)
        self.lateral1 = ConvBNLeaky(512, 256, 1)
        self.head2 = YoloHead(512 + 256, 256, outputs)
        self.lateral2 = ConvBNLeaky(256, 128, 1)
        self.head3 = YoloHead(256 + 128, 128, outputs)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c3, c4, c5 = self.backbone(x)
        b1, out1 = self.head1(c5)
        up1 = F.interpolate(self.lateral1(b1), scale_factor=2.0, mode="nearest")
        b2, out2 = self.head2(torch.cat([up1, c4], dim=1))
        up2 = F.interpolate(self.lateral2(b2), scale_factor=2.0, mode="nearest")
        _, out3 = self.head3(torch.cat([up2, c3], dim=1))
        return out1, out2, out3
