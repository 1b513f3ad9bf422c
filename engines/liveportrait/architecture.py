"""LivePortrait's networks at full size, with random weights, in PyTorch.

For timing only: the layer sizes are those of LivePortrait's
`src/config/models.yaml` (liveportrait-notes.md §1.1-1.2), so a benchmark
of these graphs costs what the real networks cost, while what they draw is
noise. Parameter counts are checked against the published ones
(`expected_params`). Spectral normalisation in the decoder is left out: it
only rescales trained weights and is folded away at export.

Used by gpu_bench.py; needs torch.
"""
import torch
import torch.nn.functional as F
from torch import nn

NUM_KP = 21

# Published sizes (LivePortrait assets/docs/speed.md), in millions.
expected_params = {"F": 0.84, "M": 28.12, "W": 45.53, "G": 55.37}


def conv_bn_relu(dims, cin, cout, k=3, leaky=False):
    conv = nn.Conv2d if dims == 2 else nn.Conv3d
    norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d
    act = nn.LeakyReLU() if leaky else nn.ReLU()
    return nn.Sequential(conv(cin, cout, k, padding=k // 2), norm(cout), act)


class Residual3d(nn.Module):
    """Pre-activation residual block on a 3-D volume."""

    def __init__(self, ch):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm3d(ch), nn.ReLU(), nn.Conv3d(ch, ch, 3, padding=1),
            nn.BatchNorm3d(ch), nn.ReLU(), nn.Conv3d(ch, ch, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class Appearance(nn.Module):
    """F: image (B,3,256,256) -> feature volume (B,32,16,64,64)."""

    def __init__(self):
        super().__init__()
        self.encode = nn.Sequential(
            conv_bn_relu(2, 3, 64),
            conv_bn_relu(2, 64, 128), nn.AvgPool2d(2),
            conv_bn_relu(2, 128, 256), nn.AvgPool2d(2),
            nn.Conv2d(256, 512, 1))
        self.volume = nn.Sequential(*[Residual3d(32) for _ in range(6)])

    def forward(self, img):
        x = self.encode(img)
        b, _, h, w = x.shape
        return self.volume(x.view(b, 32, 16, h, w))


class ChannelsFirstNorm(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.norm = nn.LayerNorm(ch, eps=1e-6)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtV2Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.up = nn.Linear(dim, 4 * dim)
        self.grn_gamma = nn.Parameter(torch.zeros(4 * dim))
        self.grn_beta = nn.Parameter(torch.zeros(4 * dim))
        self.down = nn.Linear(4 * dim, dim)

    def forward(self, x):
        y = self.norm(self.dw(x).permute(0, 2, 3, 1))
        y = F.gelu(self.up(y))
        # Global response normalisation over the spatial axes.
        g = torch.linalg.vector_norm(y, dim=(1, 2), keepdim=True)
        y = self.grn_gamma * (y * (g / (g.mean(-1, keepdim=True) + 1e-6))) + self.grn_beta + y
        return x + self.down(y).permute(0, 3, 1, 2)


class Motion(nn.Module):
    """M: ConvNeXtV2-tiny with LivePortrait's seven heads."""

    def __init__(self):
        super().__init__()
        dims, depths = [96, 192, 384, 768], [3, 3, 9, 3]
        layers = [nn.Conv2d(3, 96, 4, stride=4), ChannelsFirstNorm(96)]
        for i, (dim, depth) in enumerate(zip(dims, depths)):
            if i > 0:
                layers += [ChannelsFirstNorm(dims[i - 1]), nn.Conv2d(dims[i - 1], dim, 2, stride=2)]
            layers += [ConvNeXtV2Block(dim) for _ in range(depth)]
        self.body = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(768, eps=1e-6)
        sizes = {"pitch": 66, "yaw": 66, "roll": 66, "t": 3, "exp": 3 * NUM_KP, "scale": 1, "kp": 3 * NUM_KP}
        self.heads = nn.ModuleDict({k: nn.Linear(768, n) for k, n in sizes.items()})

    def forward(self, img):
        x = self.norm(self.body(img).mean((-2, -1)))
        return tuple(self.heads[k](x) for k in ("pitch", "yaw", "roll", "t", "exp", "scale", "kp"))


def coordinate_grid(d, h, w, like):
    axis = lambda n: torch.linspace(-1.0, 1.0, n, dtype=like.dtype, device=like.device)
    z, y, x = torch.meshgrid(axis(d), axis(h), axis(w), indexing="ij")
    return torch.stack([x, y, z], dim=-1)  # (d,h,w,3), x first as grid_sample wants


class Hourglass3d(nn.Module):
    """Five 3-D down blocks (H,W halve), five up blocks with skips."""

    def __init__(self, cin, base=32, top=1024, blocks=5):
        super().__init__()
        width = lambda i: min(top, base * 2 ** i)
        self.down = nn.ModuleList(
            conv_bn_relu(3, cin if i == 0 else width(i), width(i + 1)) for i in range(blocks))
        self.up = nn.ModuleList(
            conv_bn_relu(3, (1 if i == blocks - 1 else 2) * width(i + 1), width(i))
            for i in reversed(range(blocks)))
        self.out_channels = base + cin
        self.last = conv_bn_relu(3, self.out_channels, self.out_channels)

    def forward(self, x):
        skips = [x]
        for block in self.down:
            skips.append(F.avg_pool3d(block(skips[-1]), (1, 2, 2)))
        y = skips.pop()
        for block in self.up:
            y = torch.cat([block(F.interpolate(y, scale_factor=(1, 2, 2))), skips.pop()], dim=1)
        return self.last(y)


class Warp(nn.Module):
    """W: dense motion from keypoints, 5-D grid sampling, occlusion."""

    def __init__(self):
        super().__init__()
        k = NUM_KP + 1
        self.compress = nn.Sequential(nn.Conv3d(32, 4, 1), nn.BatchNorm3d(4), nn.ReLU())
        self.hourglass = Hourglass3d(k * 5)
        hc = self.hourglass.out_channels
        self.mask = nn.Conv3d(hc, k, 7, padding=3)
        self.occlusion = nn.Conv2d(hc * 16, 1, 7, padding=3)
        self.third = conv_bn_relu(2, 512, 256, leaky=True)
        self.fourth = nn.Conv2d(256, 256, 1)

    def forward(self, feature_3d, kp_driving, kp_source):
        b, _, d, h, w = feature_3d.shape
        k = NUM_KP + 1
        small = self.compress(feature_3d)  # (b,4,d,h,w)
        grid = coordinate_grid(d, h, w, feature_3d)
        shift = (kp_source - kp_driving).view(b, NUM_KP, 1, 1, 1, 3)
        motions = torch.cat([grid.expand(b, 1, d, h, w, 3), grid + shift], dim=1)  # (b,k,d,h,w,3)
        sampled = F.grid_sample(
            small.unsqueeze(1).expand(b, k, 4, d, h, w).reshape(b * k, 4, d, h, w),
            motions.reshape(b * k, d, h, w, 3), align_corners=False).view(b, k, 4, d, h, w)
        gauss = lambda kp: torch.exp(
            -0.5 * ((grid.view(1, 1, d, h, w, 3) - kp.view(b, NUM_KP, 1, 1, 1, 3)) ** 2).sum(-1) / 0.01)
        heat = gauss(kp_driving) - gauss(kp_source)
        heat = torch.cat([torch.zeros_like(heat[:, :1]), heat], dim=1).unsqueeze(2)
        pred = self.hourglass(torch.cat([heat, sampled], dim=2).view(b, k * 5, d, h, w))
        mask = torch.softmax(self.mask(pred), dim=1).unsqueeze(-1)  # (b,k,d,h,w,1)
        deformation = (motions * mask).sum(dim=1)  # (b,d,h,w,3)
        occlusion = torch.sigmoid(self.occlusion(pred.reshape(b, -1, h, w)))
        warped = F.grid_sample(feature_3d, deformation, align_corners=False).reshape(b, -1, h, w)
        return self.fourth(self.third(warped)) * occlusion


class Spade(nn.Module):
    def __init__(self, ch, label=256, hidden=128):
        super().__init__()
        self.shared = nn.Sequential(nn.Conv2d(label, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, ch, 3, padding=1)
        self.beta = nn.Conv2d(hidden, ch, 3, padding=1)

    def forward(self, x, seg):
        a = self.shared(F.interpolate(seg, size=x.shape[2:], mode="nearest"))
        return F.instance_norm(x) * (1 + self.gamma(a)) + self.beta(a)


class SpadeBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        mid = min(cin, cout)
        self.norm0, self.conv0 = Spade(cin), nn.Conv2d(cin, mid, 3, padding=1)
        self.norm1, self.conv1 = Spade(mid), nn.Conv2d(mid, cout, 3, padding=1)
        self.learned_skip = cin != cout
        if self.learned_skip:
            self.skip_norm, self.skip_conv = Spade(cin), nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x, seg):
        act = lambda t: F.leaky_relu(t, 0.2)
        dx = self.conv1(act(self.norm1(self.conv0(act(self.norm0(x, seg))), seg)))
        base = self.skip_conv(self.skip_norm(x, seg)) if self.learned_skip else x
        return base + dx


class Decoder(nn.Module):
    """G: warped features (B,256,64,64) -> image (B,3,512,512) in [0,1]."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Conv2d(256, 512, 3, padding=1)
        self.middle = nn.ModuleList(SpadeBlock(512, 512) for _ in range(6))
        self.up0, self.up1 = SpadeBlock(512, 256), SpadeBlock(256, 64)
        self.to_rgb = nn.Sequential(nn.Conv2d(64, 12, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, seg):
        x = self.fc(seg)
        for block in self.middle:
            x = block(x, seg)
        x = self.up0(F.interpolate(x, scale_factor=2.0), seg)
        x = self.up1(F.interpolate(x, scale_factor=2.0), seg)
        return torch.sigmoid(self.to_rgb(F.leaky_relu(x, 0.2)))


class WarpingSpade(nn.Module):
    """The fused warp + decode graph the kiosk runs per frame."""

    def __init__(self):
        super().__init__()
        self.warp, self.decode = Warp(), Decoder()

    def forward(self, feature_3d, kp_driving, kp_source):
        return self.decode(self.warp(feature_3d, kp_driving, kp_source))


def mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def stitching():
    return mlp([126, 128, 128, 64, 65])


def params_m(module):
    return sum(p.numel() for p in module.parameters()) / 1e6


def randomise(module, seed=0):
    """Random weights scaled so activations stay finite through every layer."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / fan_in ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()
    return module.eval()
